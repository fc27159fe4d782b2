"""Benchmarks of the gateway: load generator, capacity ramp, pacing, soak.

Each script runs as ``python -m bench.<name>`` from the repository root, prints
a table and writes JSON (machine info, exact parameters, figures).
"""
