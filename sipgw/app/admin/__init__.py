"""The admin HTTP server: a JSON API under ``/api/`` and ``/metrics``, on its own port.

:mod:`sipgw.app.admin.server` is the server (it imports aiohttp and the gateway: the
CLI imports it only when the server is on); :mod:`sipgw.app.admin.settings` reads
``SIPGW_ADMIN_*``. docs/operations.md describes the API.
"""
