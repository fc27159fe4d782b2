"""Reading a Prometheus text exposition back, for tests that check series and values."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["sample_value"]


def sample_value(exposition: bytes, name: str, **labels: str) -> float | None:
    """The value of the sample ``name`` (e.g. ``sipgw_calls_total``) with exactly
    ``labels``, or None if the exposition has no such sample."""
    for family in text_string_to_metric_families(exposition.decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None
