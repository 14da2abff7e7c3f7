"""ISO 8601 durations (`PT4H`, `P7D`, `PT90S`, `P1DT12H`) as seconds, and back: what rules and settings that
speak about waits and thresholds accept. Years and months are refused (their length depends on the date)."""

from __future__ import annotations

import re

_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$")
_UNITS = {"weeks": 604800, "days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}
MAX_SECONDS = 10 * 365 * 86400


def parse_duration(value: object) -> int:
    """Seconds in an ISO 8601 duration; ValueError when it is not one (or is empty, negative or over 10 years)."""
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError("must be an ISO 8601 duration such as PT4H, P7D or PT30S")
    match = _DURATION.match(value.strip().upper())
    if not match or value.strip().upper() in ("P", "PT") or value.strip().upper().endswith("T"):
        raise ValueError("must be an ISO 8601 duration such as PT4H, P7D or PT30S (no years or months)")
    total = sum(float(part) * _UNITS[name] for name, part in match.groupdict().items() if part)
    if total <= 0 or total > MAX_SECONDS:
        raise ValueError("must be more than 0 seconds and at most 10 years")
    return round(total)


def format_duration(seconds: int) -> str:
    """The shortest ISO 8601 spelling of a number of seconds (`PT4H`, `P1DT30M`)."""
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    time = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "") if (days or time) else "PT0S"
