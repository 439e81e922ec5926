"""Cluster coordination through the shared database: node liveness, presence, leases."""
