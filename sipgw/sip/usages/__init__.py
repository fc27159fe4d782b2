"""The dialog usages of the user agent core, one module each.

* :mod:`~sipgw.sip.usages.invite`: the INVITE usage - a new call, ringing,
  answering, 2xx reliability until the ACK (RFC 3261 §13.3.1.4), CANCEL, BYE in
  both directions (never ours before the ACK, §15);
* :mod:`~sipgw.sip.usages.modify`: re-INVITE and UPDATE (§14, RFC 3311), with 491
  for a second offer in progress;
* :mod:`~sipgw.sip.usages.sessiontimer`: session timers (RFC 4028);
* :mod:`~sipgw.sip.usages.refer`: blind transfer with REFER and its NOTIFYs (RFC 3515).

They share one :class:`~sipgw.sip.usages.context.UsageContext` (transactions,
timers, the call table, the event queue, response helpers) and keep each
call's state in a private :class:`~sipgw.sip.usages.session.CallSession`;
:class:`~sipgw.sip.useragent.UserAgent` validates requests and routes them here.
"""
