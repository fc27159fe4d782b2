"""An HTTP tool's URL template and the addresses it may reach (agent/tools/http_spec.py)."""

from __future__ import annotations

import pytest

from sipgw.agent.tools.http_spec import forbidden_address, template_fields


def test_a_placeholder_cannot_set_the_host() -> None:
    with pytest.raises(ValueError, match="scheme, host or port"):
        template_fields("https://{tenant}.example.com/x")
    with pytest.raises(ValueError, match="not an http"):
        template_fields("file:///etc/{name}")
    assert template_fields("https://a.example/x/{id}?q={q}") == ["id", "q"]


@pytest.mark.parametrize(
    ("address", "forbidden"),
    [
        ("127.0.0.1", True), ("10.1.2.3", True), ("192.168.1.1", True), ("172.16.0.1", True),
        ("169.254.169.254", True), ("100.64.0.1", True), ("0.0.0.0", True), ("::1", True),
        ("fc00::1", True), ("fe80::1", True), ("::ffff:127.0.0.1", True), ("224.0.0.1", True),
        ("93.184.216.34", False), ("2606:2800:220:1::1", False),
    ],
)  # fmt: skip
def test_which_addresses_are_internal(address: str, forbidden: bool) -> None:
    assert forbidden_address(address) is forbidden
