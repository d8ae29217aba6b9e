"""`python -m pipeline --help` lists the flags; see pipeline/launcher.py."""

from __future__ import annotations

import sys

from pipeline.launcher import main

if __name__ == "__main__":
    sys.exit(main())
