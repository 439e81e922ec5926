"""The pub/sub bus: a doorbell that carries already-encoded frames between nodes."""
