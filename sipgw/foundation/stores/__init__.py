"""The SQL stores' base: each store is written once and runs on SQLite or PostgreSQL."""
