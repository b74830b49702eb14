"""``python -m modelctl``."""

import sys

from modelctl.cli import main

sys.exit(main(sys.argv[1:]))
