"""`python -m simulator`: see `simulator.cli`."""

from __future__ import annotations

from simulator.cli import main

raise SystemExit(main())
