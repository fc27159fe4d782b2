"""Soak: echo and assistant calls together on one gateway for a long time, with faults.

    python -m bench.soak [--calls 40 | --capacity N --load 0.6] [--hold 30]
                         [--duration 3600] [--fault-every 20] [--sample-interval 10]

One gateway (``sipgw serve``, pinned to CPU 0) with two lines in its settings file: calls to
``echo`` get the echo agent, calls to ``assistant`` the assistant, on the AI-service fakes
(``bench.fake_services``); its webhooks go to the receiver of docs/webhooks.md, its shared
state to a PostgreSQL of its own (``SIPGW_DATABASE_URL``: the outbox, the calls' index).
Two load generators (``bench.loadgen``, one per line, on CPU 1) keep ``--calls`` calls up
between them (``--assistant-share`` on the assistant; ``--capacity N`` makes it ``--load``
× N), each lasting ``--hold`` × U(0.5, 1.5) s and replaced when it ends, for ``--duration``
seconds after the ramp.

What goes wrong meanwhile, on purpose:

- every ``--fault-every`` seconds the next vendor fault: an STT, LLM or TTS disconnect,
  5xx or stall (:mod:`sipgw.app.evaluation.fakes.faults`);
- at ``--receiver-restart-at`` of the duration the webhook receiver is killed (SIGKILL)
  and comes back ``--receiver-down`` seconds later;
- at ``--database-restart-at`` PostgreSQL restarts (a fast shutdown: its sessions end).

Every ``--sample-interval`` seconds (:mod:`bench.soak.sampler`): the gateway's RSS, open
files and threads (/proc), asyncio tasks and tick lateness (its stats lines), live Python
objects (a probe in its interpreter), the database's rows and connections, the calls up and
any stuck call (admin API). After the ramp and ``--warmup`` each figure's trend is fitted
beside the calls up (:mod:`bench.soak.trend`) and its growth over the run held to a stated
bound (:data:`bench.soak.report.SERIES`). After the load, every call placed must be
accounted for (:mod:`bench.soak.accounting`): a known outcome at the caller's end, and its
events at the receiver, none lost across the receiver's death or the database's restart.

Fails (exit 1) on growth beyond a bound (not with ``--growth-report-only``, for runs too
short to fit), a lost call event, a call of unknown outcome, a stuck call, calls or outbox
rows left at the end; prints the tables and writes the JSON (``--json``).
"""
