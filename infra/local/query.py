"""`python -m infra.local.query SQL`: run a query on the local BigQuery emulator, print a table.

Unqualified table names resolve in the local dataset (BIGQUERY_DATASET), so
`SELECT COUNT(*) FROM events` works as it reads.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from google.api_core.exceptions import GoogleAPIError

from infra.local.settings import StackSettings
from pipeline.bigquery_client import cloud_client


def run_query(settings: StackSettings, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows of `sql`, with the local dataset as the default one."""
    from google.cloud import bigquery

    client = cloud_client(settings.bigquery_project, settings.bigquery_endpoint)
    try:
        config = bigquery.QueryJobConfig(
            default_dataset=f"{settings.bigquery_project}.{settings.bigquery_dataset}"
        )
        result = client.query(sql, job_config=config).result()
        names = [field.name for field in result.schema]
        return names, [tuple(row.values()) for row in result]
    finally:
        client.close()  # type: ignore[no-untyped-call]


def format_table(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table, columns as wide as their widest cell."""
    cells = [list(names), *[["" if v is None else str(v) for v in row] for row in rows]]
    widths = [max(len(line[i]) for line in cells) for i in range(len(names))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.query", description=__doc__)
    parser.add_argument("sql", help="a BigQuery SQL query")
    args = parser.parse_args(argv)
    try:
        names, rows = run_query(StackSettings.from_env(), args.sql)
    except (GoogleAPIError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(format_table(names, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
