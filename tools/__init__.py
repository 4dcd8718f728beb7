"""Maintainer tools: run from a checkout (``python -m tools.…``), never installed with porthole."""
