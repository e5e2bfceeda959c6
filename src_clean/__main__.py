"""``python -m src_clean <subcommand>``."""

from __future__ import annotations

import sys

from src_clean.cli import main

if __name__ == "__main__":
    sys.exit(main())
