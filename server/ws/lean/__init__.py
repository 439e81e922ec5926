"""Device sockets served without ASGI: websockets' sans-I/O protocol straight on the transport."""
