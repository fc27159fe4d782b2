"""The latency the gateway adds to an AI phone call, measured at the caller's side of the wire.

Run from the repository root::

    .venv/bin/python -m bench.latency               # one configuration (defaults)
    .venv/bin/python -m bench.latency --matrix      # the knobs side by side
    .venv/bin/python -m bench.latency --realistic --preemptive both
                                                    # preemptive replies off vs on
    .venv/bin/python -m bench.latency --realistic --preemptive all
                                                    # ... and speculative speech
    .venv/bin/python -m bench.latency --realistic --preemptive speech --early-partial-ms 600 \
        --trailing-ms 0:250                         # partials during speech off vs on
    .venv/bin/python -m bench.latency --tradeoff    # turn ends: latency vs cut-offs

Set-up
------
* **The AI services** are the fakes of ``tests.toolkit.fakes`` in threads of this process
  (so their ``time.monotonic()`` stamps share our clock) with fixed, known delays:
  the STT ends a turn after ``--min-turn-silence`` of silence and sends its final
  transcript ``--stt-final-latency`` later; the LLM answers every turn with ONE
  sentence in its first content chunk after ``--llm-first-token-ms`` (so the first
  token is the first sentence); the TTS sends the first audio byte of each sentence
  ``--tts-first-byte-ms`` after the request. Every reply speaks a tone of its own
  (the fake TTS's ``tone`` function keyed on the reply number), and the caller's
  transcripts carry a turn number, so each reply is identified on the wire.
* **The gateway** runs as a subprocess (``python -m sipgw serve --agent assistant``,
  pinned to ``--gateway-cpu``) pointed at the fakes.
* **The caller** is the toolkit's scripted phone (``sipgw.app.evaluation.phone``) on this
  process's uvloop (pinned to ``--bench-cpu``). It sends RTP every 20 ms (absolute deadlines):
  a 300 Hz tone at -15 dBFS while "speaking", otherwise near-silent *marker*
  frames (-59 dBFS, below every VAD) that encode the call and packet number, so
  the audio can be found again in the chunks the fake STT receives. Every packet
  sent is stamped right after ``sendto``; every datagram received carries the
  kernel's receive time (``SO_TIMESTAMPNS``, converted to the monotonic clock),
  so the caller's own scheduling does not count.

A conversation call: greeting, then ``--turns`` turns. Each turn's reply is one
long sentence; after 0.5-0.9 s of it the caller talks over it for 0.75-0.95 s
(longer than ``SIPGW_BARGE_IN_COMMIT_MS``), which is a barge-in sample and the
next turn. Extra short calls (``--greeting-calls``) only wait for the greeting.

Figures (ms; p50/p95/p99/max and counts)
-----------------------------------------
* ``reply_path_ms``: fake TTS writes a reply's first audio byte -> the caller receives
  its first RTP packet.
* ``end_of_turn_overhead_ms``: caller's last speech packet -> first packet of the reply,
  minus the injected delays (min_turn_silence + STT final latency + LLM first token
  + TTS first byte). ``end_of_turn_gateway_ms`` is the part spent in the gateway
  alone (the fakes' actual delays, which overshoot their nominal ones by a little,
  taken out); the breakdown table splits it hop by hop.
* ``barge_in_ms``: caller's first speech packet sent while the agent speaks -> first
  silent packet received after it.
* ``greeting_overhead_ms``: 200 OK received -> first greeting packet received, minus
  the TTS first-byte delay.
* ``ingress_incl_fill_ms`` / ``ingress_excl_fill_ms``: a caller packet -> its audio
  arriving at the fake STT; all marker frames, or only the frames that completed a
  chunk (no wait for the chunk to fill).

Beside them, the gateway's own per-call records (``turn_metrics``, ``barge_in``,
``greeting_metrics``: its event-loop view, after the jitter buffer) are summarized.
``--matrix`` runs the same calls against ``ASSEMBLYAI_CHUNK_MS`` 100/50,
``--jitter-min-ms`` 40/20 and ``SIPGW_BARGE_IN_START_MS`` 60/40 (one at a time, and
all three together). Output: tables on stdout, JSON (``--json``, default
``bench/results/latency-<UTC>.json``) with machine info and parameters.

``--realistic`` replaces the short delays with realistic ones: the STT sends a
partial at 100 ms of silence and ends the turn at 300 ms (transcripts without a
sentence end, ``--max-turn-silence 300``), LLM first token 350 ms, TTS first byte
150 ms, and 10 % of the partials miss a word. ``--preemptive both`` runs two
configurations, ``SIPGW_PREEMPTIVE`` off and on, and reports end of speech to the
first agent audio for each, the saving at p50, and the preemptive requests
started/used/wasted (from the call records). ``--preemptive all`` adds a third,
``SIPGW_SPECULATIVE_SPEECH=on``, with the TTS characters it held and used or
discarded, as a share of those spoken.

``--preemptive speech`` runs preemptive replies without and with
``SIPGW_PREEMPTIVE_DURING_SPEECH`` on the same calls, the savings against the first. The
fake STT then also sends Universal-3 Pro's early partial ``--early-partial-ms`` into each
turn's speech (tried again at twice, three times ... that point while it has no word),
every partial ``--stt-partial-latency`` late; each turn's words (three, evenly spread) may
be followed by a sound without words (``--trailing-ms LO:HI``), so an early partial cut
in it has every word. The report counts the requests by the source of their partial
(``pause`` or ``speech``), used and wasted.

``--tradeoff`` (:mod:`.tradeoff`) places calls whose turns pause mid-sentence (and after
punctuated fragments) against several ``ASSEMBLYAI_MIN/MAX_TURN_SILENCE`` pairs and
``SIPGW_PREEMPTIVE_PAUSE_MS`` values, speculative speech on, and tables the latency
against the cut-offs (agent audio before the caller finished the turn).

The package: :mod:`.caller` (the call script driving the phone, the fakes' behaviour),
:mod:`.analysis` (turning traces into figures), :mod:`.report` (tables and the JSON
section), :mod:`.tradeoff` (the trade-off's configurations and table), :mod:`.run`
(configurations, command line).
"""
