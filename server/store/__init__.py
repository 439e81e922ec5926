"""The SQL store: schema, engine and migrations (SQLite embedded, PostgreSQL cluster)."""
