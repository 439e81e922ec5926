"""Sync-mismatch detection: changes a carer's devices have not acknowledged in time."""
