"""Which German states a postcode may lie in, from the ranges in ``postcode_regions.csv``.

Pure lookup (the file is read once). Used only for a plausibility remark: the site rule says
something only when a postcode's range belongs to a single state.
"""

from __future__ import annotations

import bisect
from functools import cache
from pathlib import Path

DATA_FILE = Path(__file__).with_name("postcode_regions.csv")


@cache
def _ranges() -> tuple[tuple[int, ...], tuple[tuple[int, int, tuple[str, ...]], ...]]:
    rows = []
    for line in DATA_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#") or line.startswith("from;"):
            continue
        low, high, *states = line.split(";")
        rows.append((int(low), int(high), tuple(s.strip() for s in states if s.strip())))
    rows.sort()
    return tuple(r[0] for r in rows), tuple(rows)


def states_of_postcode(postcode: str) -> tuple[str, ...]:
    """The states the postcode's range reaches; empty for an unknown or malformed code."""
    if not (len(postcode) == 5 and postcode.isdigit()):
        return ()
    number = int(postcode)
    starts, rows = _ranges()
    index = bisect.bisect_right(starts, number) - 1
    if index < 0:
        return ()
    low, high, states = rows[index]
    return states if low <= number <= high else ()
