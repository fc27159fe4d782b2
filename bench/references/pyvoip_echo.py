"""An echo server on pyVoIP 1.6.8: the thread-per-call Python reference for the benchmarks.

It runs in its own venv (``bench/.venv-pyvoip``, which ``bench.capacity
--compare`` creates with ``pip install pyVoIP==1.6.8``), not in the project's::

    bench/.venv-pyvoip/bin/python bench/references/pyvoip_echo.py \\
        --bind 127.0.0.1 --sip-port 5099 --server 127.0.0.1:5098 --rtp-ports 40000-40999

pyVoIP is a SIP *phone*: it registers with a server and sends every response
to that server rather than to the request's Via. There is no registrar in the
benchmark, so registration is skipped, and ``--server`` names the load
generator's own SIP socket (which then receives the responses, as a proxy
would). Each call is answered in pyVoIP's call thread and echoed the way its
documentation shows: ``read_audio()`` then ``write_audio()`` in a loop. pyVoIP
adds its own threads per call (one RTP receiver, one RTP sender) and answers a
call one second after the INVITE (its call callback runs on a 1 s ``Timer``).

Prints ``listening on udp:HOST:PORT`` when ready; SIGTERM/SIGINT stop it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import warnings
from typing import Any

warnings.simplefilter("ignore", DeprecationWarning)

# pyVoIP.VoIP first: importing pyVoIP.SIP first fails on a circular import
from pyVoIP.VoIP import (  # type: ignore[import-not-found]  # noqa: E402, I001
    CallState,
    InvalidStateError,
    VoIPPhone,
)
from pyVoIP import SIP  # type: ignore[import-not-found]  # noqa: E402

answered = 0
errors = 0
lock = threading.Lock()


def _no_register(self: Any) -> bool:
    """No registrar in the benchmark: behave as if registered."""
    return True


def _no_deregister(self: Any) -> bool:
    return True


def echo(call: Any) -> None:
    """Answer, then send back every 20 ms frame that arrives (pyVoIP's echo recipe)."""
    global answered, errors
    try:
        call.answer()
        with lock:
            answered += 1
        while call.state == CallState.ANSWERED:
            call.write_audio(call.read_audio(160, blocking=True))
    except InvalidStateError:
        pass
    except Exception as exc:  # keep serving other calls; count the failure
        with lock:
            errors += 1
        print(f"pyvoip_echo: call failed: {exc!r}", file=sys.stderr, flush=True)


def main() -> int:
    """Entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--sip-port", type=int, required=True)
    p.add_argument("--server", required=True, help="HOST:PORT that receives pyVoIP's responses")
    p.add_argument("--rtp-ports", default="40000-49999")
    args = p.parse_args()
    server_host, _, server_port = args.server.rpartition(":")
    low, _, high = args.rtp_ports.partition("-")

    SIP.SIPClient.register = _no_register
    SIP.SIPClient.deregister = _no_deregister

    phone = VoIPPhone(
        server_host,
        int(server_port),
        "echo",
        "unused",
        myIP=args.bind,
        callCallback=echo,
        sipPort=args.sip_port,
        rtpPortLow=int(low),
        rtpPortHigh=int(high),
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    phone.start()
    print(f"listening on udp:{args.bind}:{args.sip_port}", flush=True)
    stop.wait()
    print(f"pyvoip_echo: answered {answered}, errors {errors}", file=sys.stderr, flush=True)
    try:
        phone.stop()
    except Exception as exc:
        print(f"pyvoip_echo: stop failed: {exc!r}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
