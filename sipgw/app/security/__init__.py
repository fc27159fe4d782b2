"""Security: who may call, floods and limits, and the secrets kept out of logs and files."""
