"""Twilio's REST API, the part an app's call control uses, on the admin server.

:mod:`~sipgw.app.twilio.api.settings` holds the account SID and Auth Token the app's Twilio
client uses, :mod:`~sipgw.app.twilio.api.resource` writes the Call resource and Twilio's
errors as Twilio's JSON, :mod:`~sipgw.app.twilio.api.status` posts the calls' status
callbacks through a webhook outbox, and :mod:`~sipgw.app.twilio.api.seam` is the one place
that knows how a created call reaches the ``twiml`` agent. The endpoints are
:mod:`sipgw.app.twilio.api.endpoints`.
"""
