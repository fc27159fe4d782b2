"""Real SIP peers on loopback, for interop tests and benchmarks.

* :mod:`.baresip` (``Baresip``) and :mod:`.linphonec` (``Linphonec``): softphones that
  call, answer, send DTMF and record what they hear.
* :mod:`.sipp` (``run_sipp``, ``SippProcess``): SIPp scenarios (``scenarios/``), as a
  scripted UAC or UAS, or as a load generator with RTP.
* :mod:`.kamailio` (``Kamailio``): a registrar with digest auth and a proxy (routing to
  registered users, 407-challenging outbound proxy) on UDP, TCP and TLS, restartable.
* :mod:`.relay` (``UdpRelay``): a UDP relay that impairs traffic (loss, jitter, reordering).

Each runs under :class:`~sipgw.app.evaluation.process.ManagedProcess`; missing programs raise
:class:`~sipgw.app.evaluation.process.MissingProgram` naming the Debian package.
"""
