"""The configured funding round, loaded once per request: a page and its footer both need it."""

from __future__ import annotations

from flask import g

from app import programmes
from app.models import FundingRound


def configured_round() -> FundingRound | None:
    if "configured_round" not in g:
        g.configured_round = programmes.configured_round()
    return g.configured_round


def open_round() -> FundingRound | None:
    """The configured round if it accepts applications today (``programmes.open_round``)."""
    return programmes.open_round(configured_round())
