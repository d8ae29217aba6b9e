"""Write the files derived from the catalog: `python -m schemas.generate [--check]`.

`make schemas` runs this. With `--check` nothing is written; the command
lists the stale files and exits 1 when any derived file differs from what
the catalog gives.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from schemas import GENERATED_DIR
from schemas.bigquery import GENERATED_NOTICE, all_table_options, table_schema
from schemas.catalog import DEAD_LETTER_TABLE, EVENTS_TABLE, TABLES
from schemas.dictionary import data_dictionary
from schemas.json_schema import envelope_schema


def _json(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def _readme() -> str:
    return (
        f"# Generated files\n\n{GENERATED_NOTICE}\n\n"
        "- `events.json`, `events_dead_letter.json`: BigQuery table schemas "
        "(the JSON list `bq mk --schema` reads, so they carry no notice of their own).\n"
        "- `tables.json`: partitioning and clustering of each table.\n"
        "- `envelope.schema.json`: JSON Schema of both Tapcart envelopes.\n"
        "- `DATA_DICTIONARY.md`: every column, for BI users.\n\n"
        "Read them from Python with `schemas.load_table_schema(name)` and "
        "`schemas.table_options(name)`.\n"
    )


def render() -> dict[str, str]:
    """File name -> content of every derived file."""
    return {
        "README.md": _readme(),
        f"{EVENTS_TABLE}.json": _json(table_schema(TABLES[EVENTS_TABLE])),
        f"{DEAD_LETTER_TABLE}.json": _json(table_schema(TABLES[DEAD_LETTER_TABLE])),
        "tables.json": _json(all_table_options()),
        "envelope.schema.json": _json(envelope_schema()),
        "DATA_DICTIONARY.md": data_dictionary(),
    }


def stale_files(directory: Path = GENERATED_DIR) -> list[str]:
    """The derived files that are missing or differ from what the catalog gives."""
    return list(_stale(directory, render()))


def write(directory: Path = GENERATED_DIR) -> list[str]:
    """Write every derived file that changed; returns their names."""
    directory.mkdir(parents=True, exist_ok=True)
    stale = _stale(directory, render())
    for name, content in stale.items():
        (directory / name).write_text(content, encoding="utf-8")
    return list(stale)


def _stale(directory: Path, rendered: dict[str, str]) -> dict[str, str]:
    return {
        name: content
        for name, content in rendered.items()
        if not (directory / name).is_file()
        or (directory / name).read_text(encoding="utf-8") != content
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas.generate", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report stale files")
    parser.add_argument("--dir", type=Path, default=GENERATED_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(args.dir)
        for name in stale:
            print(f"stale: {args.dir / name} (run `make schemas`)", file=sys.stderr)
        return 1 if stale else 0
    for name in write(args.dir):
        print(f"wrote {args.dir / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
