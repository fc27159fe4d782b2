"""``python -m sipgw``."""

import sys

from sipgw.app.operations import collector, dataclass_code

collector.hold()  # until the gateway is started (collector.settle) or the command needs it
dataclass_code.install()  # the methods @dataclass writes, compiled at an earlier start

from sipgw.app.cli import main  # noqa: E402  (imported with both in place)

sys.exit(main())
