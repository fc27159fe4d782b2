"""The attacks of docs/security.md, measured: what each one gets out of the gateway.

Run: ``.venv/bin/python -m bench.attacks [--only NAME ...] [--json PATH]`` from the
repository root. Every attack runs on loopback against a gateway on this process's event
loop (a forged source is another 127.x address) or, for state, against the sans-IO user
agent core on an injected clock. Each prints its figures in a table and all go to one JSON
report (default ``bench/results/attacks-<UTC time>.json``). docs/performance.md ("Attacks")
quotes them; docs/changelog.md has what they were before the fixes.

The scripts use only what the gateway offered before the fixes as well (its settings,
``Gateway``, ``UserAgent``'s inputs and outputs, ``PortAllocator``), so the same script
measures an older tree: run it with that tree's checkout on ``PYTHONPATH``.

- ``amplification``: forged-source INVITEs refused by the access policy (403, and 401 with
  digest users): responses and bytes per request, until the gateway is quiet.
- ``default_serve``: a default ``sipgw serve`` (the echo agent, nothing configured) and one
  never-acknowledged INVITE with SDP from a forged source on the internet (198.51.100.7, on
  ``lo`` of a network namespace: the attack runs itself under ``unshare -n``), and from this
  host: messages and bytes back until the gateway is quiet.
- ``state``: 20,000 forged-source INVITEs at 1,000 a second into the core: transactions
  alive at most, and the memory they hold.
- ``victim``: INVITEs whose ``c=`` is a listening victim and whose caller sends no RTP
  (sendrecv with ACK, recvonly with ACK, no ACK at all): packets the victim receives and when
  the gateway ends each call.
- ``hold_rtcp``: calls on hold with ``c=0.0.0.0`` and ``a=inactive`` (no RTP timeout):
  datagrams that reach this host at the RTP port + 1 and at an ``a=rtcp:`` port.
- ``bleed``: a caller talks, then goes quiet while another address sprays RTP at its port:
  packets the sprayer gets, packets the caller still gets; and how the next call's port
  follows from this one's.
- ``tcp_limits``: a source over its rate limits sends four valid RFC 4475 requests over TCP:
  how many are answered.
- ``connections``: 32 stranger addresses open 32 TCP connections each, then the allowed trunk
  connects and sends an OPTIONS; stalled TLS handshakes from one address; a connection kept up
  with CRLF keep-alives past the idle timeout.
- ``closed_default``, ``max_calls``: ``sipgw serve`` with an agent that spends money and
  nothing configured: a caller's INVITE and the sessions it opens; the concurrent-call cap.
- ``callback_injection``: a caller's callback reason and notes that are instructions: the
  callee's greeting, the callback call's prompt, callbacks per number, a chained callback.
- ``orders``, ``dtmf_sequence``, ``secret_files``: an order read to a forged From; single
  menu keys adding up to a number; a ``.env`` anyone may change.
"""
