"""The office web console: server-rendered pages with a little plain JavaScript."""
