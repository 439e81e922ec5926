"""Where the sockets are served."""

DEVICE_SOCKET_PATH = "/ws/device"
CONSOLE_SOCKET_PATH = "/ws/console"
