"""Paging: numbers read from a URL, and a pagination whose count stops at a cap.

A wild page or id in a URL is a bad bookmark, never a crash. Databases store 32- or 64-bit
integers; a page or id beyond that would raise an overflow deep inside the driver, so such
values are clamped or dropped here, at the edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask_sqlalchemy.pagination import SelectPagination
from sqlalchemy.orm import Session

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


class CappedPagination(SelectPagination):
    """``db.paginate`` whose count stops after ``cap`` + 1 rows.

    Counting every match costs as much as there are matches, and nobody pages through ten
    thousand cases. Up to ``cap`` matches this is ``db.paginate`` as before (exact
    ``total``, ``pages``, ``has_next``). Beyond, ``capped`` is true, ``total`` is ``cap``
    ("more than …"), ``pages`` is None (the last page is not known) and ``has_next`` says
    whether a row follows this page: the page is read with one row more than it shows.

    The count selects a constant instead of the entity (the database can answer from an
    index alone); ``select`` must therefore not be DISTINCT or grouped.
    """

    def __init__(self, **kwargs: Any) -> None:
        self.capped = False
        self._more = False
        super().__init__(**kwargs)

    def _query_items(self) -> list[Any]:
        select = self._query_args["select"].limit(self.per_page + 1).offset(self._query_offset)
        rows = list(self._query_args["session"].execute(select).unique().scalars())
        self._more = len(rows) > self.per_page
        return rows[: self.per_page]

    def _query_count(self) -> int:
        cap = self._query_args["cap"]
        matches = (
            self._query_args["select"]
            .order_by(None)
            .with_only_columns(sa.literal_column("1"), maintain_column_froms=True)
            .limit(cap + 1)
            .subquery()
        )
        counted = (
            self._query_args["session"]
            .execute(sa.select(sa.func.count()).select_from(matches))
            .scalar_one()
        )
        self.capped = counted > cap
        return min(counted, cap)

    @property
    def pages(self) -> int | None:
        """The number of pages, or None beyond the cap."""
        return None if self.capped else super().pages

    @property
    def has_next(self) -> bool:
        return self._more if self.capped else super().has_next


def paginate_capped(
    session: Session, select: sa.Select, *, page: int, per_page: int, cap: int
) -> CappedPagination:
    """One page of ``select`` and its count up to ``cap`` (see CappedPagination)."""
    return CappedPagination(
        select=select,
        session=session,
        page=page,
        per_page=per_page,
        max_per_page=None,
        error_out=False,
        cap=cap,
    )
