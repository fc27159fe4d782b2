"""Fakes the tests drive beyond what ``sipgw eval`` needs, speaking the real wire protocols.

The speech-to-speech services (:mod:`.realtime`, :mod:`.voice_agent`, on :mod:`.voice_base`),
Twilio's Media Streams (:mod:`.twilio`) and the fakes in threads of their own
(:mod:`.threaded`). The AssemblyAI, OpenAI and ElevenLabs fakes the evaluation harness runs
are product code, in :mod:`sipgw.app.evaluation.fakes`.
"""
