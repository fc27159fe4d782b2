"""``python -m sipgw``."""

import sys

from sipgw.app.cli import main

sys.exit(main())
