"""Benchmarks for porthole (not tests: nothing here asserts on time). See bench/README.md."""
