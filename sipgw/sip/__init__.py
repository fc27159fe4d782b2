"""The SIP core, sans-IO: messages, URIs, SDP and offer/answer, transactions, dialogs, the
dialog usages (``usages/``) and the user agent that dispatches to them. It imports nothing of
ours outside itself; its asyncio adapters are :mod:`sipgw.aio`."""
