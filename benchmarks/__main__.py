"""Run every benchmark: `python -m benchmarks [name ...]`.

Each `benchmarks/bench_<name>.py` module defines `main() -> None`, measures
its subject beside a baseline in the same run, and prints both and the ratio.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import benchmarks


def discover() -> list[str]:
    return sorted(
        info.name.removeprefix("bench_")
        for info in pkgutil.iter_modules(benchmarks.__path__)
        if info.name.startswith("bench_")
    )


def main(argv: list[str]) -> int:
    names = argv or discover()
    if not names:
        print("no benchmarks yet")
        return 0
    for name in names:
        print(f"== {name} ==", flush=True)
        module = importlib.import_module(f"benchmarks.bench_{name}")
        module.main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
