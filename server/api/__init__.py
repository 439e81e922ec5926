"""The REST API (JSON over HTTP) for the office side and the device HTTP fallback."""
