"""Times as people read them: "just now", "5 min ago", "3 h ago", "yesterday 14:02", "Tue 09:15", "12 Nov 14:02",
"12 Nov 2025", in the viewer's time zone; the exact time stays in exports and beside it on hover."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone(name: str | None):
    """The viewer's time zone (the browser's IANA name), else UTC."""
    try:
        return ZoneInfo(name) if name else timezone.utc
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def readable(stamp: str | None, now: datetime | None = None, tz: str | None = None) -> str:
    """``stamp`` (ISO 8601, as stored) relative to ``now`` when recent, else as a short date, in ``tz``."""
    if not stamp:
        return ""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    here = zone(tz)
    now = (now or datetime.now(timezone.utc)).astimezone(here)
    moment = moment.astimezone(here)
    seconds = (now - moment).total_seconds()
    if 0 <= seconds < 60:
        return "just now"
    if 0 <= seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if 0 <= seconds < 6 * 3600 and moment.date() == now.date():
        return f"{int(seconds // 3600)} h ago"
    days = (now.date() - moment.date()).days
    if days == 0:
        return f"today {moment:%H:%M}"
    if days == 1:
        return f"yesterday {moment:%H:%M}"
    if 1 < days < 7:
        return f"{moment:%a %H:%M}"
    if moment.year == now.year:
        return f"{moment.day} {moment:%b %H:%M}"
    return f"{moment.day} {moment:%b %Y}"


def exact(stamp: str | None, tz: str | None = None) -> str:
    """The exact time in the viewer's zone, to the second, with the zone's name."""
    if not stamp:
        return ""
    moment = datetime.fromisoformat(stamp)
    moment = (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(zone(tz))
    return f"{moment:%Y-%m-%d %H:%M:%S} {moment.tzname()}"
