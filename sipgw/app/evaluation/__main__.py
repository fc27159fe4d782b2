"""``python -m sipgw.app.evaluation``: see :mod:`sipgw.app.evaluation.run`."""

import sys

from sipgw.app.evaluation.run import main

sys.exit(main())
