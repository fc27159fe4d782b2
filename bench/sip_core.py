"""Microbenchmark of call setup in the sans-IO SIP core: CPU per call, in µs.

Run: ``.venv/bin/python -m bench.sip_core [--calls N] [--json PATH]`` from the
repository root; it prints the figure and writes JSON (default
``bench/results/sip_core-<UTC time>.json``).

One :class:`~sipgw.sip.useragent.UserAgent` takes, per call, an INVITE with an SDP
offer, answers it (100, 180, 200 with the SDP answer), and takes the ACK and a
BYE, all on an injected clock that moves 10 ms per call, so the transactions
and timers of earlier calls are still alive, as they would be at 100 new calls
a second. CPU time (``time.process_time``) is counted, the
best and the median of seven repeats reported. It uses only the application's
API of the user agent, so its ``run_calls`` also runs against older trees.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence

from bench._harness import machine_info, write_json
from sipgw.sip.addressing import Flow
from sipgw.sip.events import CallOffered
from sipgw.sip.message import parse_message
from sipgw.sip.useragent import UserAgent, UserAgentConfig

SDP = (
    "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\n"
)
PEER = Flow("UDP", ("127.0.0.1", 5062))
STEP = 0.01
"""Seconds of the injected clock between two calls."""


def request(method: str, call: int, cseq: int, to_tag: str = "", body: str = "") -> bytes:
    """A request of call number ``call``, as a softphone would send it."""
    lines = [
        f"{method} sip:echo@127.0.0.1:5060 SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK{call:08x}{method};rport",
        "Max-Forwards: 70",
        f"From: <sip:caller@127.0.0.1:5062>;tag=f{call}",
        "To: <sip:echo@127.0.0.1>" + (f";tag={to_tag}" if to_tag else ""),
        f"Call-ID: call-{call}@bench",
        f"CSeq: {cseq} {method}",
        "Contact: <sip:caller@127.0.0.1:5062>",
    ]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def run_calls(calls: int) -> float:
    """Place ``calls`` calls through a fresh user agent; µs of CPU per call."""
    ua = UserAgent(UserAgentConfig(public_host="127.0.0.1", sip_port=5060), random.Random(1))
    started = time.process_time()
    for n in range(calls):
        now = n * STEP
        ua.receive_datagram(request("INVITE", n, 1, body=SDP), PEER, now)
        offered = None
        while (event := ua.next_event()) is not None:
            if isinstance(event, CallOffered):
                offered = event.call
        if offered is None:
            raise RuntimeError(f"call {n} was not offered")
        ua.ring(offered, now)
        ua.answer(offered, 20000 + 2 * (n % 1000), now)
        to_tag = ""
        for data, _ in ua.datagrams_to_send():
            if data.startswith(b"SIP/2.0 200"):
                to_tag = parse_message(data).to.tag or ""
        ua.receive_datagram(request("ACK", n, 1, to_tag), PEER, now + 0.001)
        ua.receive_datagram(request("BYE", n, 2, to_tag), PEER, now + 0.002)
        while ua.next_event() is not None:
            pass
        ua.datagrams_to_send()
        ua.handle_timer(now + 0.003)
        if ua.busy:
            raise RuntimeError(f"call {n} did not end")
    return (time.process_time() - started) / calls * 1e6


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.sip_core", description=__doc__)
    parser.add_argument("--calls", type=int, default=2000, help="calls per repeat (2000)")
    parser.add_argument("--repeats", type=int, default=7, help="repeats; the best counts (7)")
    parser.add_argument("--json", metavar="PATH", help="report path ('-' = stdout)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Print the figure (and write JSON when asked)."""
    args = build_parser().parse_args(argv)
    run_calls(min(200, args.calls))  # warm up
    runs = [run_calls(args.calls) for _ in range(args.repeats)]
    figures = {
        "us_per_call_best": round(min(runs), 1),
        "us_per_call_median": round(sorted(runs)[len(runs) // 2], 1),
        "us_per_call_runs": [round(run, 1) for run in runs],
    }
    print("call setup and teardown (INVITE, 100, 180, 200, ACK, BYE, 200), CPU per call:")
    best, median = figures["us_per_call_best"], figures["us_per_call_median"]
    print(f"  best {best:.1f} µs, median {median:.1f} µs")
    report = {
        "tool": "sip_core",
        "params": {"calls": args.calls, "repeats": args.repeats, "clock_step_s": STEP},
        "machine": machine_info(),
        "figures": figures,
    }
    print(f"JSON: {write_json(report, args.json, 'sip_core')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
