"""``python -m deltaprop``: the command line (see :mod:`deltaprop.cli`)."""

from __future__ import annotations

import sys

from deltaprop.cli import main

if __name__ == "__main__":
    sys.exit(main())
