"""SIPREC recording sessions to the gateway, its Session Recording Server (docs/siprec.md)."""
