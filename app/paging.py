"""Numbers read from a URL: a wild value is a bad bookmark, never a crash.

Databases store 32- or 64-bit integers; a page or id beyond that would raise an overflow
deep inside the driver, so such values are clamped or dropped here, at the edge.
"""

from __future__ import annotations

from collections.abc import Mapping

MAX_PAGE = 100_000
MAX_ID = 2**31 - 1


def page_from(args: Mapping[str, str]) -> int:
    """The requested page number, clamped to 1 … MAX_PAGE."""
    raw = (args.get("page") or "").strip()
    page = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else 1
    return min(max(page, 1), MAX_PAGE)


def id_from(raw: str | None) -> int | None:
    """A database id given as text, or None if it is not one."""
    raw = (raw or "").strip()
    if raw.isascii() and raw.isdigit() and len(raw) <= 10 and 0 < int(raw) <= MAX_ID:
        return int(raw)
    return None
