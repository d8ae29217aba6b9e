"""The kinds of problem the flattening reports, with what each means.

A fatal problem makes the row unusable: the pipeline sends the event to the
dead-letter table with the kind as its `error_type`. Every other problem
leaves the row usable; the value in question is kept in an extras column.
"""

from __future__ import annotations

from enum import StrEnum


class ProblemKind(StrEnum):
    NOT_AN_OBJECT = "not_an_object"
    MISSING_EVENT_ID = "missing_event_id"
    MISSING_EVENT_NAME = "missing_event_name"
    MISSING_APP_ID = "missing_app_id"
    NOT_AN_ID = "not_an_id"
    NOT_TEXT = "not_text"
    NOT_A_NUMBER = "not_a_number"
    NOT_AN_INTEGER = "not_an_integer"
    OUT_OF_RANGE = "out_of_range"
    NOT_JSON = "not_json"
    NOT_A_LIST = "not_a_list"
    NOT_A_TIMESTAMP = "not_a_timestamp"
    TIMESTAMP_WITHOUT_OFFSET = "timestamp_without_offset"
    IMPLAUSIBLE_TIMESTAMP = "implausible_timestamp"
    CONFLICTING_VALUE = "conflicting_value"
    TOO_DEEP = "too_deep"
    INTERNAL_ERROR = "internal_error"


PROBLEM_DESCRIPTIONS: dict[ProblemKind, str] = {
    ProblemKind.NOT_AN_OBJECT: "the payload, or a property group, is not a JSON object "
    "(fatal for the payload; a group that is not an object is kept in `envelope_extra`)",
    ProblemKind.MISSING_EVENT_ID: "no usable event id (fatal)",
    ProblemKind.MISSING_EVENT_NAME: "no usable event name (fatal)",
    ProblemKind.MISSING_APP_ID: "no usable app id (fatal)",
    ProblemKind.NOT_AN_ID: "an id that is not text or a number (e.g. an object or `true`)",
    ProblemKind.NOT_TEXT: "a text field holding an object, a list or a boolean",
    ProblemKind.NOT_A_NUMBER: 'a number field holding something else (e.g. `"$79.99"`)',
    ProblemKind.NOT_AN_INTEGER: "an integer field holding a fraction or something else",
    ProblemKind.OUT_OF_RANGE: "a number or timestamp outside what BigQuery can store",
    ProblemKind.NOT_JSON: "a JSON field holding a string that is not JSON",
    ProblemKind.NOT_A_LIST: "a list field holding something else, or a list with items that "
    "are not text",
    ProblemKind.NOT_A_TIMESTAMP: "`timestamp_iso` that is not an ISO-8601 date and time",
    ProblemKind.TIMESTAMP_WITHOUT_OFFSET: "`timestamp_iso` without a UTC offset, so not "
    "used for `event_time`",
    ProblemKind.IMPLAUSIBLE_TIMESTAMP: "an event time before 2000 or after 2099 (a reset "
    "device clock, or seconds sent as milliseconds); not used for `event_time`",
    ProblemKind.CONFLICTING_VALUE: "a field sent twice (e.g. an id repeated in a group) with "
    "different values; the first by priority wins, the other is kept in the extras",
    ProblemKind.TOO_DEEP: "a JSON value nested deeper than BigQuery's JSON type allows (500); "
    "it is stored as JSON text inside a string",
    ProblemKind.INTERNAL_ERROR: "a bug in the flattening (fatal); please report it",
}

FATAL_KINDS = frozenset(
    {
        ProblemKind.MISSING_EVENT_ID,
        ProblemKind.MISSING_EVENT_NAME,
        ProblemKind.MISSING_APP_ID,
        ProblemKind.INTERNAL_ERROR,
    }
)
