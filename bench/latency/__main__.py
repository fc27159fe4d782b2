"""``python -m bench.latency``: see :mod:`bench.latency`."""

import sys

from .run import main

sys.exit(main())
