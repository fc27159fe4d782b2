"""The Kamailio peer's helpers that need no Kamailio (tests/toolkit/peers/kamailio.py): its
location table dump, read per AOR."""

from __future__ import annotations

from tests.toolkit.peers.kamailio import parse_ul_dump

UL_DUMP = """{
	Domains: {
		Domain: {
			Domain: location
			AoRs: {
				Info: {
					AoR: alice
					Contacts: {
						Contact: {
							Address: sip:alice-1@127.0.0.1:27842;transport=tcp
							Expires: 60
							User-Agent: baresip v1.0.0 (x86_64/linux)
							Received: sip:127.0.0.1:51856;transport=tcp
							Socket: tcp:127.0.0.1:29045
						}
						Contact: {
							Address: sip:alice-2@127.0.0.1:3000
							Expires: 55
							User-Agent: [not set]
							Received: [not set]
							Socket: udp:127.0.0.1:29045
						}
					}
				}
				Info: {
					AoR: bob
					Contacts: {
						Contact: {
							Address: sip:bob@127.0.0.1:4000
							Expires: 30
							Socket: udp:127.0.0.1:29045
						}
					}
				}
			}
		}
	}
}
"""


def test_ul_dump_is_parsed_per_aor() -> None:
    regs = parse_ul_dump(UL_DUMP)
    assert sorted(regs) == ["alice", "bob"]
    first, second = regs["alice"]
    assert first.contact == "sip:alice-1@127.0.0.1:27842;transport=tcp"
    assert (first.expires, first.transport, first.received) == (
        60, "tcp", "sip:127.0.0.1:51856;transport=tcp",
    )  # fmt: skip
    assert (second.expires, second.transport, second.received, second.user_agent) == (
        55, "udp", "", "",
    )  # fmt: skip
    assert regs["bob"][0].expires == 30
    assert parse_ul_dump("{\n}\n") == {}
