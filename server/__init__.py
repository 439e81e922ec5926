"""caresync server: Starlette app, services, SQL store and pub/sub bus."""
