"""Media: RTP, RTCP, SRTP, the jitter buffer, pacing, codecs and DTMF (sans-IO cores).

The first import chooses the compiled or the pure-Python path (:mod:`sipgw.media._accel`).
"""

from sipgw.media import _accel

_accel.select()
