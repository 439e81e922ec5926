"""Adapters in the repository: the Python SDK (``python_sdk``) and a client with seeded
bugs (``broken``) that proves each case can fail. docs/conformance.md has the contract."""
