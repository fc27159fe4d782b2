"""``python -m sipgw``."""

import sys

from sipgw.app.operations import collector

collector.hold()  # until the gateway is started (collector.settle) or the command needs it

from sipgw.app.cli import main  # noqa: E402  (imported with the collector off)

sys.exit(main())
