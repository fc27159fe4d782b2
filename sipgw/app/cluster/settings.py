"""The ``cluster`` settings section: the shared database and this gateway's name in it
(beside :mod:`sipgw.app.cluster`, which only the composition root imports: the settings
catalogue, which every folder reaches, must not pull the database driver in)."""

from __future__ import annotations

from dataclasses import dataclass

from sipgw.foundation.settings import section, setting
from sipgw.foundation.settings.parsers import positive, text

__all__ = ["ClusterSection"]


def _database_url(value: str) -> str:
    url = value.strip()
    if url and not url.startswith(("postgresql://", "postgres://")):
        raise ValueError("must be a postgresql:// URL, or empty (SQLite files)")
    return url


def _http_url(value: str) -> str:
    url = value.strip().rstrip("/")
    if url and not url.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL, or empty")
    return url


@section(
    "cluster",
    title="Several machines (shared state)",
    intro="Callbacks, messages, the webhook outbox and the calls' index in one PostgreSQL "
    "database shared by every gateway, instead of each gateway's SQLite files "
    '(docs/operations.md, "Several machines"); environment variables (or `.env` lines) only.',
)
@dataclass(frozen=True)
class ClusterSection:
    """The shared database and how this gateway appears in it."""

    database_url: str = setting(
        "", env="SIPGW_DATABASE_URL", parse=_database_url, secret=True, default_doc="none",
        help="postgresql://USER:PASSWORD@HOST:PORT/NAME of the database every gateway shares "
        "(migrations applied at start); empty = SQLite files on this machine. Never logged "
        "with its password.",
    )  # fmt: skip
    cluster_name: str = setting(
        "", env="SIPGW_CLUSTER_NAME", parse=text,
        help="This gateway's name among the cluster's (unique); empty = HOST:SIP_PORT.",
    )  # fmt: skip
    cluster_admin_url: str = setting(
        "", env="SIPGW_CLUSTER_ADMIN_URL", parse=_http_url,
        help="Where the other gateways reach this one's admin API (calls placed here when "
        "another is full); empty = the admin server's own address.",
    )  # fmt: skip
    cluster_heartbeat: float = setting(
        5.0, env="SIPGW_CLUSTER_HEARTBEAT", parse=positive,
        help="Seconds between this gateway's heartbeats (its free capacity); a gateway "
        "silent for three of them counts as gone.",
    )  # fmt: skip
