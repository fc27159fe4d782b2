"""The test and benchmark toolkit: what ``tests/`` and ``bench/`` both drive the gateway with.

It is not in the wheel; nothing in production imports it. It may import anything of ours
(the SIP core, ``media``, ``agent``, ``sipgw.app``) but never ``bench`` or the rest of
``tests``. It builds on the evaluation harness's pieces, which are product code
(:mod:`sipgw.app.evaluation`: the scripted phone, the gateway as a subprocess, ports,
processes, audio helpers, the AssemblyAI, OpenAI and ElevenLabs fakes).

* :mod:`.gateway_in_process`: the gateway on the caller's own event loop.
* :mod:`.fakes`: the speech-to-speech and Twilio fakes, and fakes in threads.
* :mod:`.peers`: real SIP peers (baresip, linphonec, SIPp, Kamailio, Asterisk, ...) and a
  UDP impairment relay.
* :mod:`.netns`, :mod:`.tls`, :mod:`.browser`, :mod:`.firefox`, :mod:`.https_proxy`,
  :mod:`.webhook_receiver`, :mod:`.wire`, :mod:`.metrics`, :mod:`.faults`,
  :mod:`.canaries`, :mod:`.amdset`, :mod:`.image_wheel`: network namespaces, certificates,
  browsers, the image's wheel, and the rest the tests drive.

Its own tests sit beside it (``tests/toolkit/test_netns.py``, ...).
"""
