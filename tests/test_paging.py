"""Numbers from URLs are clamped or dropped at the edge (the fuzz test found the overflow)."""

from __future__ import annotations

import pytest

from app.paging import MAX_PAGE, id_from, page_from


@pytest.mark.parametrize(
    ("raw", "page"),
    [
        (None, 1),
        ("", 1),
        ("3", 3),
        ("0", 1),
        ("-2", 1),
        ("abc", 1),
        ("²", 1),
        ("٣", 1),
        ("400000000000000000", 1),
        (str(MAX_PAGE + 1), MAX_PAGE),
        (" 7 ", 7),
    ],
)
def test_page_from(raw, page):
    assert page_from({} if raw is None else {"page": raw}) == page


@pytest.mark.parametrize(
    ("raw", "ident"),
    [
        ("12", 12),
        ("0", None),
        ("-1", None),
        ("²", None),
        ("9" * 30, None),
        ("2147483648", None),
        ("", None),
        (None, None),
        ("1e3", None),
    ],
)
def test_id_from(raw, ident):
    assert id_from(raw) == ident
