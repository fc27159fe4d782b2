"""Webhooks: what happens to calls, told to the systems around the gateway (docs/webhooks.md).

:mod:`~sipgw.app.webhooks.events` makes the events' JSON from the call feed,
:mod:`~sipgw.app.webhooks.signing` signs them (Standard Webhooks, HMAC-SHA256),
:mod:`~sipgw.app.webhooks.outbox` keeps them in SQLite until delivered,
:mod:`~sipgw.app.webhooks.delivery` posts them with retries, and
:mod:`~sipgw.app.webhooks.hooks` wires the call feed (and the post-call summary) to them.
"""
