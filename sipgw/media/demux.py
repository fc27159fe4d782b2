"""Datagrams read in batches, handed to their calls' sessions; sans-IO.

The native media path (media/aio/rtp_batch.py) reads every call's RTP and RTCP sockets
together and gets back, for each datagram, its socket's token, its bytes, its source and
its arrival, in four lists (columns: no object per datagram for the garbage collector to
track). A token is the slot's index times two, plus one for the RTCP port. A call on the
shared port has a slot without sockets: datagrams tagged with its token came to the
shared socket from an address it holds (the reader's routes) and go to
:meth:`SharedPort.deliver`. :class:`Demux` gives each
datagram to what the per-socket protocols of the pure-Python path
(media/aio/rtp_endpoint.py) give it to: the RTP port's to :meth:`MediaSession.receive`,
the RTCP port's to :meth:`MediaSession.receive_rtcp`, with the same counting. Compiled,
the loop costs well under a microsecond a datagram.
"""

from __future__ import annotations

from sipgw.media.mediaports import MediaPorts
from sipgw.media.shared_port import Claim, SharedPort

__all__ = ["Demux", "MediaPorts"]

Address = tuple[str, int]


class Demux:
    """Slots of port pairs by token; :meth:`dispatch` delivers a batch."""

    __slots__ = ("_claims", "_free", "_listens", "_shared", "_shared_index", "_slots")

    def __init__(self) -> None:
        self._shared: SharedPort | None = None
        self._shared_index = -1
        self._slots: list[MediaPorts | None] = []
        # A call on the shared port: its claim, for datagrams its route tags with its token.
        self._claims: list[Claim | None] = []
        self._free: list[int] = []
        # Whether each slot's session was listened to at arrival when last looked at; a new
        # slot counts as listened to until :meth:`update_listening` has looked.
        self._listens: list[bool] = []

    def attach(self, ports: MediaPorts) -> int:
        """A slot for ``ports``; returns its RTP token (the RTCP one is that plus one)."""
        if self._free:
            index = self._free.pop()
            self._slots[index] = ports
            self._listens[index] = True
            self._claims[index] = None
        else:
            index = len(self._slots)
            self._slots.append(ports)
            self._listens.append(True)
            self._claims.append(None)
        return index * 2

    def claimed(self, token: int, claim: Claim) -> None:
        """That slot's call is on the shared port: datagrams tagged with its token are
        ``claim``'s (:meth:`SharedPort.deliver`)."""
        self._claims[token >> 1] = claim

    def share(self, shared: SharedPort) -> int:
        """A slot for the shared port's sockets (media/shared_port.py): their datagrams go
        to ``shared``, which finds each one's call; returns its RTP token."""
        token = self.attach(MediaPorts())  # no session: never listened to, never dispatched
        self._shared = shared
        self._shared_index = token >> 1
        return token

    def detach(self, token: int) -> None:
        """Free the slot of that RTP token (its datagrams still queued are dropped)."""
        index = token // 2
        if 0 <= index < len(self._slots) and self._slots[index] is not None:
            self._slots[index] = None
            self._claims[index] = None
            self._free.append(index)

    def __len__(self) -> int:
        return len(self._slots) - len(self._free)

    def update_listening(self, changed: list[int]) -> bool:
        """Whether some call's audio is listened to at arrival (its session's ``on_audio``:
        speech-to-text, detection), rather than only played at the ticks; the RTP token of
        each call whose answer changed since the last look is appended to ``changed``
        (:meth:`listens` has the answer)."""
        anyone = False
        listens = self._listens
        slots = self._slots
        for index in range(len(slots)):
            ports = slots[index]
            if ports is None:
                continue
            session = ports.session
            now = session is not None and session.on_audio is not None
            if now:
                anyone = True
            if now != listens[index]:
                listens[index] = now
                changed.append(index * 2)
        return anyone

    def listens(self, token: int) -> bool:
        """Whether that RTP token's call was listened to at arrival when last looked at."""
        index = token >> 1
        return index < len(self._listens) and self._listens[index]

    def dispatch(
        self, tokens: list[int], datas: list[bytes], sources: list[Address], arrivals: list[float]
    ) -> None:
        """Give every datagram to its call's session, in the order read."""
        slots = self._slots
        claims = self._claims
        shared = self._shared
        shared_index = self._shared_index
        for i in range(len(tokens)):
            token = tokens[i]
            index = token >> 1
            if index == shared_index:
                if shared is not None:
                    if token & 1:
                        shared.receive_rtcp(datas[i], arrivals[i], sources[i])
                    else:
                        shared.receive(datas[i], sources[i], arrivals[i])
                continue
            if index >= len(slots):
                continue
            ports = slots[index]
            if ports is None:
                continue
            if token & 1:
                ports.rtcp_received(datas[i], arrivals[i], sources[i])
                continue
            claim = claims[index]
            if claim is not None:
                if shared is not None:  # routed: from an address the call holds
                    shared.deliver(claim, datas[i], sources[i], arrivals[i])
                continue
            session = ports.session
            if session is not None:
                session.receive(datas[i], sources[i], arrivals[i])
