"""The agents: one object per call behind a small interface (media/ below, the app above).

``media`` is imported first: it chooses the compiled or the pure-Python path
(:mod:`sipgw.media._accel`) before any compiled agent module can be found.
"""

import sipgw.media  # noqa: F401
