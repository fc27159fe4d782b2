"""The test and benchmark toolkit: what ``tests/`` and ``bench/`` both drive the gateway with.

Nothing in production imports this package; it may import anything of ours (the SIP
core, ``media``, ``agent``, ``sipgw.app``) but never ``tests`` or ``bench``.

* :mod:`.phone`: one scripted SIP phone (a UAC on one UDP socket, RTP on another,
  kernel receive timestamps on both).
* :mod:`.gateway_process`: ``python -m sipgw serve`` as a subprocess (start, wait
  for ``listening on udp:``, log, stop); :mod:`.gateway_in_process`: the gateway on
  the caller's own event loop.
* :mod:`.audio`: tones, G.711 frames, levels, Goertzel, dominant tone, WAV files.
* :mod:`.ports`: free loopback ports and port ranges.
* :mod:`.process`: external programs under a time bound, with their logs.
* :mod:`.fakes`: AssemblyAI, OpenAI and ElevenLabs fakes on real loopback sockets.
* :mod:`.peers`: real SIP peers (baresip, linphonec, SIPp) and a UDP impairment relay.
"""
