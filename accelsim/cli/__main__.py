"""``python -m accelsim.cli``: the same as ``accelsim`` and ``python -m accelsim``."""

import sys

from accelsim.cli import main

sys.exit(main())
