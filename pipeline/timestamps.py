"""Event times as BigQuery wants them in streaming inserts: ISO-8601 UTC text.

The local emulator reads epoch numbers as microseconds, so times always
travel as text: `2023-08-15T18:51:06.000000Z`. BigQuery's TIMESTAMP covers
years 1 to 9999, the same range as `datetime`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from schemas.problems import ProblemKind

_EPOCH_DATE = date(1970, 1, 1)
_MILLIS_PER_DAY = 86_400_000

# Tapcart events happen in this century. Earlier or later times come from a device clock
# that was reset, or from seconds sent as milliseconds, and would fall outside the
# partitions BigQuery keeps per day (1960-2159).
PLAUSIBLE_FROM = "2000-01-01T00:00:00.000000Z"
PLAUSIBLE_UNTIL = "2100-01-01T00:00:00.000000Z"


def utc_text(moment: datetime) -> str:
    """`moment` as UTC text with microseconds; a naive datetime is taken as UTC."""
    if moment.tzinfo is not None:
        if moment.tzinfo is not UTC:
            moment = moment.astimezone(UTC)
        moment = moment.replace(tzinfo=None)
    # isoformat pads the year to four digits, which strftime("%Y") does not.
    return moment.isoformat(timespec="microseconds") + "Z"


def from_epoch_millis(millis: int) -> str | None:
    """Epoch milliseconds as UTC text, or None outside BigQuery's range."""
    # Integer arithmetic and a cache of dates: twice as fast as going through datetime.
    days, millis_of_day = divmod(millis, _MILLIS_PER_DAY)
    day = _date_text(days)
    if day is None:
        return None
    seconds, millis = divmod(millis_of_day, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{day}T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}000Z"


@lru_cache(maxsize=4096)
def _date_text(days_since_1970: int) -> str | None:
    try:
        return (_EPOCH_DATE + timedelta(days=days_since_1970)).isoformat()
    except OverflowError:
        return None


def from_iso(text: str) -> tuple[str | None, ProblemKind | None]:
    """ISO-8601 text with an offset as UTC text, else None and why."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None, ProblemKind.NOT_A_TIMESTAMP
    if moment.tzinfo is None or moment.utcoffset() is None:
        # A local time without its offset could be off by up to 14 hours.
        return None, ProblemKind.TIMESTAMP_WITHOUT_OFFSET
    try:
        return utc_text(moment), None
    except OverflowError:
        return None, ProblemKind.OUT_OF_RANGE


def is_plausible(text: str) -> bool:
    """Whether UTC text from `utc_text` is a plausible time for a Tapcart event."""
    return PLAUSIBLE_FROM <= text < PLAUSIBLE_UNTIL
