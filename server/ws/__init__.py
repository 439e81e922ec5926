"""WebSocket sessions: thin adapters between sockets and the protocol and services."""
