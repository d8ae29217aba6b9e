"""Turn any parsed payload into one `events` row, losing nothing.

`flatten` is pure and total: for every JSON value it returns the row (every
column of the `events` table, ready for `insert_rows_json`) and the problems
it met. Known fields go to their typed column, coerced as the catalog says;
everything else, and every value that could not be coerced, goes to the
extras JSON column of its group, so schema drift never drops data. Rows
whose problems include a fatal one belong in the dead-letter table.

Column conventions: NULL is None (every column is present, so rows are
uniform), REPEATED is a list (empty when absent), TIMESTAMP is ISO-8601 UTC
text, JSON is JSON text. The ingest columns (`inserted_at`, `kafka_*`) are
None; the pipeline fills them.

When a field arrives in several places (an id repeated in a group, both
spellings of a group, `variant_name` and `variant_title`), the first by the
catalog's priority fills the column; an equal copy is dropped as redundant,
a different one is kept in the extras with a `conflicting_value` problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from pipeline import json_text, timestamps
from pipeline.coerce import COERCERS, Coercer, CoercionFailed, to_id
from schemas.catalog import EVENT_COLUMNS, Coercion, Mode, display_names, source_paths
from schemas.envelope import REQUIRED_FIELDS, Envelope, Path, detect_envelope
from schemas.layout import ENVELOPE_EXTRA, Node, Slot, layout
from schemas.problems import ProblemKind

__all__ = ["Problem", "ProblemKind", "flatten"]


@dataclass(frozen=True, slots=True)
class Problem:
    """Something `flatten` met in a payload; `fatal` means the row is unusable."""

    path: str
    kind: str
    detail: str
    fatal: bool = False

    def __post_init__(self) -> None:
        # Plain text, whether given a ProblemKind or not: it travels to BigQuery as error_type.
        if type(self.kind) is not str:
            object.__setattr__(self, "kind", str(self.kind))


# `_Field.text`: TEXT and ID fields holding a string skip the call to `coerce`.
_NOT_TEXT, _TEXT, _ID = 0, 1, 2


class _Field(NamedTuple):
    """One key of a known object that feeds a column (a compiled `layout.Slot`)."""

    column: str
    coerce: Coercer
    priority: int
    fills: bool
    text: int
    owner: _Object
    key: str

    @property
    def path(self) -> str:
        return _dotted((*self.owner.path, self.key))


@dataclass(eq=False)
class _Object:
    """A payload object the catalog knows (the top, a group, `metadata`)."""

    path: Path
    extra_column: str
    extra_prefix: Path
    fields: dict[str, _Field] = field(default_factory=dict)
    children: dict[str, _Object] = field(default_factory=dict)


_NULL_ROW: dict[str, object] = {entry.name: None for entry in EVENT_COLUMNS}
_REPEATED = tuple(entry.name for entry in EVENT_COLUMNS if entry.mode is Mode.REPEATED)
_DISPLAY_NAMES = display_names()
_COLUMNS = {entry.name: entry for entry in EVENT_COLUMNS}


def flatten(
    payload: object,
    received_at: datetime,
    *,
    keep_payload: bool = True,
    app_id_hint: str | None = None,
) -> tuple[dict[str, object], list[Problem]]:
    """The `events` row of `payload` and the problems met; never raises.

    `received_at` is when the receiver accepted the event (UTC); it is also
    the event time of last resort. `keep_payload=False` leaves the `payload`
    column NULL. `app_id_hint` (the receiver's `appid` header) is used when
    the payload names no app, as `schemas.envelope.identify` does. Only a
    `received_at` that is not a datetime raises (TypeError).
    """
    if not isinstance(received_at, datetime):
        # A caller's bug, not a payload's: no row could say when the event arrived.
        raise TypeError(f"received_at must be a datetime, not {type(received_at).__name__}")
    problems: list[Problem] = []
    try:
        row = _Flattening(payload, problems).run(received_at, keep_payload, app_id_hint)
    except Exception as error:
        # The contract is to never raise: a bug becomes a fatal problem, and the event a
        # dead letter with its raw payload, rather than a crashed pipeline.
        row = _base_row(payload, received_at, keep_payload, problems)
        problems.append(
            Problem("", ProblemKind.INTERNAL_ERROR, f"{type(error).__name__}: {error}", True)
        )
    return row, problems


def _base_row(
    payload: object, received_at: datetime, keep_payload: bool, problems: list[Problem]
) -> dict[str, object]:
    row = _NULL_ROW.copy()
    for name in _REPEATED:
        row[name] = []
    received = timestamps.utc_text(received_at)
    row["received_at"] = received
    row["event_time"] = received
    row["event_time_source"] = "received_at"
    if keep_payload:
        row["payload"] = _json_column(payload, "", problems)
    return row


class _Flattening:
    """The state of one call: the row, which field filled each column, the extras."""

    __slots__ = ("compared", "extras", "payload", "problems", "redundant", "row", "taken")

    def __init__(self, payload: object, problems: list[Problem]) -> None:
        self.payload = payload
        self.problems = problems
        self.row: dict[str, object] = {}
        # Column -> the field whose value it holds, and the fields that held the same value.
        self.taken: dict[str, _Field] = {}
        self.redundant: list[_Field] = []
        self.extras: dict[str, dict[str, object]] = {}
        # Copies of receiver-checked ids found outside their paths: (field, coerced, raw).
        self.compared: list[tuple[_Field, object, object]] = []

    def run(
        self, received_at: datetime, keep_payload: bool, app_id_hint: str | None
    ) -> dict[str, object]:
        payload = self.payload
        row = self.row = _base_row(payload, received_at, keep_payload, self.problems)
        if not isinstance(payload, dict):
            kind = type(payload).__name__
            self.problems.append(
                Problem(
                    "", ProblemKind.NOT_AN_OBJECT, f"the payload is {kind}, not an object", True
                )
            )
            return row
        envelope = detect_envelope(payload)
        row["envelope"] = envelope.value
        self.take_object(_PLANS[envelope], payload)
        if row["app_id"] is None and isinstance(app_id_hint, str):
            row["app_id"] = to_id(app_id_hint)
        for copy, coerced, raw in self.compared:
            if coerced != row[copy.column]:
                self.keep_copy(copy, raw)
        for name in REQUIRED_FIELDS:
            if row[name] is None:
                where = _dotted(source_paths(_COLUMNS[name], envelope)[0])
                self.problems.append(
                    Problem(where, f"missing_{name}", f"no usable {name} (looked at {where})", True)
                )
        event_name = row["event_name"]
        if isinstance(event_name, str):
            row["event_display_name"] = _DISPLAY_NAMES.get(event_name)
        if row["timestamp_ms"] is not None or row["timestamp_iso"] is not None:
            self.set_event_time()
        for column, extra in self.extras.items():
            row[column] = _json_column(extra, column, self.problems)
        return row

    def take_object(self, plan: _Object, obj: dict[str, object]) -> None:
        # The hot loop of the pipeline: locals, and no allocation for a field that fits.
        fields = plan.fields
        children = plan.children
        row = self.row
        taken = self.taken
        unknown: dict[str, object] | None = None
        for key, value in obj.items():
            known = fields.get(key)
            if known is None:
                if key in children:
                    self.take_child(plan, key, value)
                    continue
                if unknown is None:
                    unknown = self.extra_target(plan)
                if key in unknown:
                    self.put_extra(plan, key, value)
                else:
                    unknown[key] = value
                continue
            coerced: object
            if known.text and type(value) is str:
                coerced = (value.strip() if known.text == _ID else value) or None
            else:
                try:
                    coerced = known.coerce(value)
                except CoercionFailed as failure:
                    self.problems.append(Problem(known.path, failure.kind, failure.detail))
                    self.put_extra(plan, key, value)
                    continue
            if coerced is None:
                continue
            name = known.column
            if not known.fills:
                self.compared.append((known, coerced, value))
                continue
            holder = taken.get(name)
            if holder is None:
                row[name] = coerced
                taken[name] = known
            elif coerced == row[name]:
                # The same id repeated in a group: nothing to keep twice, unless a third
                # place later wins with another value (see take_conflict).
                if known.priority < holder.priority:
                    taken[name] = known
                    self.redundant.append(holder)
                else:
                    self.redundant.append(known)
            else:
                self.take_conflict(known, coerced, value, holder)

    def take_child(self, plan: _Object, key: str, value: object) -> None:
        child = plan.children[key]
        if isinstance(value, dict):
            self.take_object(child, value)
        elif value is not None and value != "":
            self.problems.append(
                Problem(
                    _dotted(child.path),
                    ProblemKind.NOT_AN_OBJECT,
                    f"expected an object, got {type(value).__name__}; kept in envelope_extra",
                )
            )
            self.put_extra(plan, key, value)

    def take_conflict(self, new: _Field, coerced: object, raw: object, old: _Field) -> None:
        """The higher-priority value stays in the column, the others go to the extras."""
        name = new.column
        if new.priority < old.priority:
            self.row[name] = coerced
            self.taken[name] = new
            winner = new
            # The old value, and its copies taken as redundant so far.
            losers = [old, *(copy for copy in self.redundant if copy.column == name)]
            self.redundant = [copy for copy in self.redundant if copy.column != name]
            lost = [(loser, self.raw_value(loser)) for loser in losers]
        else:
            winner = old
            lost = [(new, raw)]
        for loser, loser_raw in lost:
            self.put_extra(loser.owner, loser.key, loser_raw)
            self.problems.append(
                Problem(
                    loser.path,
                    ProblemKind.CONFLICTING_VALUE,
                    f"{name} differs from {winner.path}; kept in the extras",
                )
            )

    def keep_copy(self, copy: _Field, raw: object) -> None:
        """A copy of an id that differs from the id used (or that is the only one found)."""
        self.put_extra(copy.owner, copy.key, raw)
        name = copy.column
        found = self.taken.get(name)
        if found is not None:
            used = f"the {name} used is from {found.path}"
        else:
            used = f"the {name} used is the request's" if self.row[name] else f"no usable {name}"
        self.problems.append(
            Problem(
                copy.path,
                ProblemKind.CONFLICTING_VALUE,
                f"a copy of {name} that is not read from here; {used}; kept in the extras",
            )
        )

    def raw_value(self, known: _Field) -> object:
        """The value as sent at a field's place (the payload is not modified)."""
        node = self.payload
        for key in (*known.owner.path, known.key):
            node = node[key]  # type: ignore[index]
        return node

    def extra_target(self, plan: _Object) -> dict[str, object]:
        """The dict inside the extras where this object's unknown keys go."""
        target = self.extras.setdefault(plan.extra_column, {})
        for part in plan.extra_prefix:
            target = _inner(target, part)
        return target

    def put_extra(self, plan: _Object, key: str, value: object) -> None:
        target = self.extra_target(plan)
        if key not in target:
            target[key] = value
        elif not _same_json(target[key], value):
            # Both spellings of a group (event_properties, EventProperties) sent this key:
            # the second stays at its own path.
            full = self.extras.setdefault(ENVELOPE_EXTRA, {})
            _inner(full, plan.path[-1])[key] = value
            self.problems.append(
                Problem(
                    _dotted((*plan.path, key)),
                    ProblemKind.CONFLICTING_VALUE,
                    "differs from the same key in the group's other spelling; kept in "
                    f"{ENVELOPE_EXTRA}",
                )
            )

    def set_event_time(self) -> None:
        row = self.row
        millis = row["timestamp_ms"]
        if isinstance(millis, int):
            text = timestamps.from_epoch_millis(millis)
            if text is None:
                failure, why = ProblemKind.OUT_OF_RANGE, "outside the TIMESTAMP range"
            elif timestamps.is_plausible(text):
                row["event_time"] = text
                row["event_time_source"] = "timestamp"
                return
            else:
                failure, why = ProblemKind.IMPLAUSIBLE_TIMESTAMP, text
            self.problems.append(
                Problem(
                    self.taken["timestamp_ms"].path,
                    failure,
                    f"{millis} ms since 1970 is {why}; not used as the event time",
                )
            )
        iso = row["timestamp_iso"]
        if isinstance(iso, str):
            text, unusable = timestamps.from_iso(iso)
            if text is not None:
                if timestamps.is_plausible(text):
                    row["event_time"] = text
                    row["event_time_source"] = "timestamp_iso"
                    return
                unusable = ProblemKind.IMPLAUSIBLE_TIMESTAMP
            self.problems.append(
                Problem(
                    self.taken["timestamp_iso"].path,
                    unusable or ProblemKind.NOT_A_TIMESTAMP,
                    f"{iso[:60]!r} is not used as the event time",
                )
            )


def _inner(target: dict[str, object], key: str) -> dict[str, object]:
    inner = target.setdefault(key, {})
    if not isinstance(inner, dict):
        # Only objects taken apart key by key get an inner dict; anything else is a bug.
        raise TypeError(f"extras at {key!r} hold {type(inner).__name__}, not an object")
    return inner


def _same_json(left: object, right: object) -> bool:
    """Equal as JSON (Python says True == 1 and 1 == 1.0; JSON does not), at any depth."""
    pairs = [(left, right)]
    while pairs:
        one, other = pairs.pop()
        if type(one) is not type(other):
            return False
        if isinstance(one, dict) and isinstance(other, dict):
            if one.keys() != other.keys():
                return False
            pairs.extend((one[key], other[key]) for key in one)
        elif isinstance(one, list) and isinstance(other, list):
            if len(one) != len(other):
                return False
            pairs.extend(zip(one, other, strict=True))
        elif one != other:
            return False
    return True


def _json_column(value: object, where: str, problems: list[Problem]) -> str:
    text = json_text.dumps(value)
    if text is not None:
        return text
    problems.append(
        Problem(where, ProblemKind.TOO_DEEP, "nested deeper than BigQuery's JSON; stored as text")
    )
    return json_text.dumps_as_text(value)


def _dotted(path: Path) -> str:
    return ".".join(path)


def _compile(node: Node) -> _Object:
    plan = _Object(node.path, node.extra_column, node.extra_prefix)
    for key, slot in node.slots.items():
        plan.fields[key] = _field(slot, plan, key)
    for key, child in node.children.items():
        plan.children[key] = _compile(child)
    return plan


def _field(slot: Slot, owner: _Object, key: str) -> _Field:
    coercion = slot.column.coercion
    if coercion is None:
        raise ValueError(f"{slot.column.name} is read from the payload but has no coercion")
    text = {Coercion.TEXT: _TEXT, Coercion.ID: _ID}.get(coercion, _NOT_TEXT)
    return _Field(slot.column.name, COERCERS[coercion], slot.priority, slot.fills, text, owner, key)


_PLANS = {envelope: _compile(layout(envelope)) for envelope in Envelope}
