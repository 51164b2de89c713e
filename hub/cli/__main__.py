"""``python -m hub.cli``: how the ingest pool starts its worker processes."""

import sys

from hub.cli import main

sys.exit(main())
