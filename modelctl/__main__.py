"""``python -m modelctl``."""

import signal
import sys

from modelctl.cli import main

# As other command-line tools: when the reader of its output goes away (`modelctl list --json | head`), it stops.
if hasattr(signal, "SIGPIPE"):
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
sys.exit(main(sys.argv[1:]))
