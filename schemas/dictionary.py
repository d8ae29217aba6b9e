"""The data dictionary for BI users, in Markdown, rendered from the catalog."""

from __future__ import annotations

from schemas.bigquery import GENERATED_NOTICE
from schemas.catalog import (
    COERCION_RULES,
    DEAD_LETTER_TABLE,
    EVENT_TYPES,
    EVENTS_TABLE,
    GROUPS,
    GROUPS_BY_NAME,
    TABLES,
    Column,
    FilledBy,
    Table,
    source_paths,
)
from schemas.envelope import Envelope
from schemas.problems import FATAL_KINDS, PROBLEM_DESCRIPTIONS, ProblemKind

_SECTIONS = (
    ("envelope", "Identity and envelope"),
    ("derived", "Set by the flattening"),
    *((group.name, f"`{group.name}` group") for group in GROUPS),
    ("extras", "Extras: everything else, as JSON"),
    ("ingest", "Set by the pipeline"),
)


def data_dictionary() -> str:
    events = TABLES[EVENTS_TABLE]
    lines = [
        f"<!-- {GENERATED_NOTICE} -->",
        "# Data dictionary: Tapcart events in BigQuery",
        "",
        f"> {GENERATED_NOTICE}",
        "",
        "Dataset `tapcart`. Every Tapcart event becomes one row of `events`; an event the "
        "pipeline cannot turn into a row becomes one row of `events_dead_letter`, with its raw "
        "payload. Tapcart retries deliveries, so the same `event_id` can arrive more than once: "
        "query the deduplicated views, or deduplicate on `event_id`.",
        "",
        "## Tables",
        "",
        "| table | partitioned by day of | clustered by | what it holds |",
        "| --- | --- | --- | --- |",
    ]
    for table in TABLES.values():
        clustering = ", ".join(f"`{name}`" for name in table.clustering)
        lines.append(
            f"| `{table.name}` | `{table.partition_field}` | {clustering} | {table.description} |"
        )
    lines += [
        "",
        "## How values are cleaned",
        "",
        "Tapcart's payloads do not always match their documented types, so every known field "
        "is coerced to its column's type:",
        "",
    ]
    lines += [f"- **{coercion.value}**: {rule}." for coercion, rule in COERCION_RULES.items()]
    lines += [
        "",
        "Nothing is dropped. A field the catalog does not know is kept in its group's extras "
        "column (`device_extra`, `event_extra`, ...), a known field whose value cannot be coerced "
        "is kept there as sent (its typed column is NULL), and the whole original payload is in "
        "`payload`. Query them with `JSON_VALUE(event_extra, '$.some_field')`.",
        "",
        "`event_time` comes from `timestamp` (epoch milliseconds), else `timestamp_iso`, else the "
        "time the receiver accepted the event; `event_time_source` says which.",
        "",
        "## `events` columns",
        "",
    ]
    for section, title in _SECTIONS:
        columns = [column for column in events.columns if column.group == section]
        if not columns:
            continue
        lines += [f"### {title}", ""]
        if section in GROUPS_BY_NAME:
            lines += [_group_intro(section), ""]
        lines += _column_table(columns)
        lines.append("")
    lines += _event_types()
    lines += ["## `events_dead_letter` columns", ""]
    lines += _plain_table(TABLES[DEAD_LETTER_TABLE])
    lines += ["", *_problems()]
    return "\n".join(lines).rstrip() + "\n"


def _group_intro(name: str) -> str:
    group = GROUPS_BY_NAME[name]
    spellings = "; ".join(
        f"{envelope.value}: " + ", ".join(f"`{key}`" for key in keys)
        for envelope, keys in group.keys.items()
    )
    return f"{group.description} Arrives as {spellings}."


def _column_table(columns: list[Column]) -> list[str]:
    lines = [
        "| column | type | mode | from Insights | from Clickstream | description |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for column in columns:
        insights = _sources(column, Envelope.INSIGHTS)
        clickstream = _sources(column, Envelope.CLICKSTREAM)
        description = column.description
        if column.events:
            description += " Documented for: " + ", ".join(column.events) + "."
        lines.append(
            f"| `{column.name}` | {column.type.sql_name} | {column.mode.value} | {insights} "
            f"| {clickstream} | {_cell(description)} |"
        )
    return lines


def _sources(column: Column, envelope: Envelope) -> str:
    if column.filled_by is FilledBy.FLATTEN:
        return "derived"
    if column.filled_by is FilledBy.PIPELINE:
        return "pipeline"
    paths = source_paths(column, envelope)
    if not paths:
        return "-"
    if column.repeated_in_groups:
        direct = column.paths.get(envelope, ())
        shown = ", ".join(f"`{'.'.join(path)}`" for path in direct)
        if not column.group_copies_fill:
            return f"{shown} (copies in other groups are only compared)"
        return f"{shown}, then any group's `{column.name}`"
    if column.keys:
        # The group's other spellings are listed once, in its section's introduction.
        group_key = paths[0][0]
        return ", ".join(f"`{group_key}.{key}`" for key in column.keys)
    return ", ".join(f"`{'.'.join(path)}`" for path in paths)


def _plain_table(table: Table) -> list[str]:
    lines = ["| column | type | mode | description |", "| --- | --- | --- | --- |"]
    lines += [
        f"| `{column.name}` | {column.type.sql_name} | {column.mode.value} "
        f"| {_cell(column.description)} |"
        for column in table.columns
    ]
    return lines


def _event_types() -> list[str]:
    lines = [
        "## Event types",
        "",
        "`event_display_name` is the same for an event type in both envelopes. Only `AppOpened` "
        "is confirmed as an Insights wire name; the others follow its pattern. Which Clickstream "
        "event matches which Insights one is this project's reading of Tapcart's lists. Unknown "
        "event types are kept like any other (their `event_display_name` is NULL).",
        "",
        "| display name | Insights `event_type` | Clickstream `event` |",
        "| --- | --- | --- |",
    ]
    for event_type in EVENT_TYPES:
        insights = f"`{event_type.insights_name}`" if event_type.insights_name else "-"
        if event_type.insights_name and not event_type.insights_confirmed:
            insights += " (presumed)"
        clickstream = f"`{event_type.clickstream_name}`" if event_type.clickstream_name else "-"
        lines.append(f"| {event_type.display_name} | {insights} | {clickstream} |")
    return [*lines, ""]


def _problems() -> list[str]:
    lines = [
        "## Problems found while flattening",
        "",
        "A fatal problem sends the event to `events_dead_letter` with the problem as its "
        "`error_type` (`failed_step` = `flatten`); the others leave the row usable, with the value "
        "concerned in an extras column.",
        "",
        "| problem | fatal | meaning |",
        "| --- | --- | --- |",
    ]
    for kind, meaning in PROBLEM_DESCRIPTIONS.items():
        fatal = "yes" if kind in FATAL_KINDS else "no"
        if kind is ProblemKind.NOT_AN_OBJECT:
            fatal = "for the payload"
        lines.append(f"| `{kind.value}` | {fatal} | {_cell(meaning)} |")
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
