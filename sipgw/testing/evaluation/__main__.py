"""``python -m sipgw.testing.evaluation``: see :mod:`sipgw.testing.evaluation.run`."""

import sys

from .run import main

sys.exit(main())
