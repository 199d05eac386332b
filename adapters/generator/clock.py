"""Minutes since 2000-01-01 (the sort key of every command), their texts, and yuan amounts."""

from __future__ import annotations

from datetime import date

_BASE = date(2000, 1, 1).toordinal()
_DAY_TEXT: dict[int, str] = {}


def _minute(day: date, hour: int, minute: int = 0) -> int:
    return (day.toordinal() - _BASE) * 1440 + hour * 60 + minute


def _day_of(m: int) -> date:
    return date.fromordinal(_BASE + m // 1440)


def _day_text(ordinal: int) -> str:
    text = _DAY_TEXT.get(ordinal)
    if text is None:
        text = _DAY_TEXT[ordinal] = date.fromordinal(ordinal).isoformat()
    return text


def _at(m: int) -> str:
    days, rest = divmod(m, 1440)
    hour, minute = divmod(rest, 60)
    return f"{_day_text(_BASE + days)}T{hour:02d}:{minute:02d}:00+08:00"


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"
