"""Hot writes: a rota change's statements as driver-neutral steps (:mod:`.steps`), run on
SQLite's dedicated writer thread with group commit (:mod:`.sqlite_writer`) or on raw asyncpg
connections of their own (:mod:`.pg_connections`), bypassing the async ORM layer."""
