"""porthole relay: the trio switching server."""
