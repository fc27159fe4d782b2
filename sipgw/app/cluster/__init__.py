"""Shared state for a cluster: PostgreSQL behind the stores' protocols (docs/operations.md,
"Several machines")."""
