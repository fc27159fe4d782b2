"""Streaming chat models with tools, whoever the vendor: the contract, retries, sentences."""
