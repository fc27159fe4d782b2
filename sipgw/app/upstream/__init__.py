"""Upstream: the accounts the gateway registers with, their trunks, and where placed calls go."""
