"""Which codecs a call may use, most preferred first (docs/hd-voice.md).

``SIPGW_CODECS`` is what the operator allows (``PCMU,PCMA`` by default: G.722 and Opus
only when listed) and the order of the gateway's own calls. A routes-file line's ``codecs``
and an account's ``codecs`` (the accounts file) narrow and reorder it for their calls;
an account that sets none keeps G.711 first (carriers bill, or break, on other codecs),
so a trunk that offers PCMU and G.722 gets PCMU while a softphone calling the gateway
straight gets G.722. The line wins over the account. Nothing here resamples or decodes:
the codec names go to the SIP core as :class:`~sipgw.sip.offeranswer.RtpCodec` s, and
the media layer resolves the one agreed on (:func:`sipgw.media.codecs.codec_named`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sipgw.media.codecs import CODECS
from sipgw.sip.offeranswer import RtpCodec

__all__ = ["G711_NAMES", "call_codecs", "codec_list", "g711_first", "rtp_codecs"]

G711_NAMES = ("PCMU", "PCMA")


def codec_list(value: str | Sequence[str]) -> tuple[str, ...]:
    """``"g722, pcmu"`` (or a TOML list of names) -> ``("G722", "PCMU")``.

    Raises:
        ValueError: empty, or a name we do not carry (the message names it and ours).
    """
    names = value.split(",") if isinstance(value, str) else list(value)
    found: list[str] = []
    for name in names:
        if not isinstance(name, str):
            raise ValueError(f"codec {name!r} must be a name in quotes")
        key = name.strip().upper().replace(".", "")  # "G.722" as people write it
        if not key:
            continue
        if key not in CODECS:
            raise ValueError(f"unknown codec {name.strip()!r} (we carry {', '.join(CODECS)})")
        missing = CODECS[key].unavailable()
        if missing is not None:  # Opus without PyAV: said at start-up, not at the first call
            raise ValueError(f"codec {name.strip()!r} {missing}")
        found.append(key)
    if not found:
        raise ValueError(f"must name at least one codec of {', '.join(CODECS)}")
    return tuple(dict.fromkeys(found))


def g711_first(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` with the G.711 laws first, each group in its own order."""
    return tuple(n for n in names if n in G711_NAMES) + tuple(
        n for n in names if n not in G711_NAMES
    )


def call_codecs(
    allowed: Sequence[str],
    line: Sequence[str] | None = None,
    account: Sequence[str] | None = None,
    via_account: bool = False,
) -> tuple[str, ...]:
    """One incoming call's codecs: the line's, else its account's, else the gateway's
    (G.711 first on an account's call), each narrowed to what ``allowed`` lists.

    Returns:
        The names, most preferred first; empty when the line's or account's list has
        nothing the gateway allows (the call is then refused with 488).
    """
    own = line if line is not None else account
    if own is not None:
        return tuple(name for name in own if name in allowed)
    return g711_first(allowed) if via_account else tuple(allowed)


def rtp_codecs(names: Sequence[str]) -> tuple[RtpCodec, ...]:
    """The named codecs as the SIP core matches them in SDP."""
    return tuple(
        RtpCodec(
            codec.rtpmap_name, codec.clock_rate, codec.payload_type, codec.channels, codec.fmtp
        )
        for codec in (CODECS[name] for name in names)
    )
