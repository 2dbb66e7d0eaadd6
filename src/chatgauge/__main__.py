"""``python -m chatgauge`` runs the command line."""

import sys

from chatgauge.cli import main

sys.exit(main())
