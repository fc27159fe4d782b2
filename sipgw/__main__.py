"""``python -m sipgw``."""

import sys

from sipgw.cli import main

sys.exit(main())
