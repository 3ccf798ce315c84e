"""Funding rounds as data: one TOML file per round, loaded into ``funding_round`` rows.

Nothing about a round is hard-coded in Python or templates; ``PROGRAMME`` names the open
round. Euro amounts in the files become integer cents here.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import FundingRound

PROGRAMME_DIR = Path(__file__).parent

_REQUIRED = (
    "code",
    "name_de",
    "name_en",
    "budget_eur",
    "funding_rate_percent",
    "rate_basis",
    "co_financing_min_percent",
    "applications_open",
    "applications_close",
    "funding_start",
    "funding_end",
    "districts",
    "priorities",
)
_COLUMNS = (
    "name_de",
    "name_en",
    "funding_rate_percent",
    "rate_basis",
    "co_financing_min_percent",
    "applications_open",
    "applications_close",
    "funding_start",
    "funding_end",
)


# What a broken rule may give (app.eligibility knows the rules themselves; the CLI checks the
# names against it before loading, see app.cli).
SEVERITIES = ("fail", "remark")


class ProgrammeError(ValueError):
    """A round's data file is incomplete or inconsistent."""


def _cents(eur: int | float) -> int:
    return round(eur * 100)


def _limits_to_cents(limits: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in limits.items() if not k.endswith("_eur")}
    for key, value in limits.items():
        if key.endswith("_eur"):
            out[key.removesuffix("_eur") + "_cents"] = _cents(value)
    return out


def parse_round(raw: dict[str, Any], source: str = "?") -> dict[str, Any]:
    """Check one round's data and return the column values plus ``data`` (cents)."""
    missing = [key for key in _REQUIRED if key not in raw]
    if missing:
        raise ProgrammeError(f"{source}: missing {', '.join(missing)}")
    if raw["rate_basis"] not in ("personnel", "total"):
        raise ProgrammeError(f"{source}: rate_basis must be 'personnel' or 'total'")
    for key in ("applications_open", "applications_close", "funding_start", "funding_end"):
        if not isinstance(raw[key], dt.date):
            raise ProgrammeError(f"{source}: {key} must be a date (YYYY-MM-DD)")
    if raw["applications_open"] > raw["applications_close"]:
        raise ProgrammeError(f"{source}: applications_open after applications_close")
    if raw["funding_start"] >= raw["funding_end"]:
        raise ProgrammeError(f"{source}: funding_start not before funding_end")
    _check_funders(raw.get("funders"), source)
    values = {key: raw[key] for key in ("code", *_COLUMNS)}
    values["budget_cents"] = _cents(raw["budget_eur"])
    data = {
        key: value
        for key, value in raw.items()
        if key not in values and key not in _COLUMNS and key != "budget_eur"
    }
    data["project_types"] = [_limits_to_cents(t) for t in raw.get("project_types", [])]
    data["default_limits"] = _limits_to_cents(raw.get("default_limits", {}))
    data["rules"] = _rules(raw.get("rules"), source)
    values["data"] = data
    return values


def _rules(tables: Any, source: str) -> dict[str, Any]:
    """The round's ``[rules.*]`` tables, checked: a severity each, euros in cents."""
    if not isinstance(tables, dict) or not tables:
        raise ProgrammeError(f"{source}: no [rules.*] tables")
    out = {}
    for name, table in tables.items():
        if table.get("severity") not in SEVERITIES:
            raise ProgrammeError(f"{source}: rules.{name}.severity must be 'fail' or 'remark'")
        out[name] = _limits_to_cents(table)
    return out


def _check_funders(funders: Any, source: str) -> None:
    """The optional ``[funders]`` table: the "gefördert durch" notice in both languages and,
    optionally, the funders' names (same number in both languages)."""
    if funders is None:
        return
    if not isinstance(funders, dict):
        raise ProgrammeError(f"{source}: funders must be a table")
    for key in ("notice_de", "notice_en"):
        if not isinstance(funders.get(key), str) or not funders[key].strip():
            raise ProgrammeError(f"{source}: funders.{key} must be a non-empty text")
    names = [funders.get("names_de", []), funders.get("names_en", [])]
    for key, value in zip(("names_de", "names_en"), names, strict=True):
        if not isinstance(value, list) or not all(isinstance(n, str) and n.strip() for n in value):
            raise ProgrammeError(f"{source}: funders.{key} must be a list of non-empty texts")
    if len(names[0]) != len(names[1]):
        raise ProgrammeError(f"{source}: funders.names_de and names_en differ in length")
    unknown = set(funders) - {"notice_de", "notice_en", "names_de", "names_en"}
    if unknown:
        raise ProgrammeError(f"{source}: unknown key(s) in funders: {', '.join(sorted(unknown))}")


def funders_notice(row: FundingRound | None, language: str) -> dict[str, Any] | None:
    """``{"notice": text, "names": [...]}`` in the reader's language, or None if the round
    names no funders."""
    funders = (row.data or {}).get("funders") if row is not None else None
    if not funders:
        return None
    lang = language if language in ("de", "en") else "de"
    return {"notice": funders[f"notice_{lang}"], "names": funders.get(f"names_{lang}", [])}


def read_round_files(directory: Path = PROGRAMME_DIR) -> list[dict[str, Any]]:
    rounds = []
    for path in sorted(directory.glob("*.toml")):
        with path.open("rb") as fh:
            rounds.append(parse_round(tomllib.load(fh), source=path.name))
    codes = [r["code"] for r in rounds]
    if len(codes) != len(set(codes)):
        raise ProgrammeError("two round files share a code")
    return rounds


def sync_rounds(directory: Path = PROGRAMME_DIR) -> list[FundingRound]:
    """Insert or update every round from its file. Committed funds are never touched."""
    result = []
    for values in read_round_files(directory):
        row = db.session.scalar(select(FundingRound).filter_by(code=values["code"]))
        if row is None:
            row = FundingRound(committed_cents=0, **values)
            db.session.add(row)
        else:
            if values["budget_cents"] < row.committed_cents:
                db.session.rollback()  # all rounds or none
                raise ProgrammeError(
                    f"{values['code']}: new budget is below the funds already committed"
                )
            for key, value in values.items():
                setattr(row, key, value)
        result.append(row)
    db.session.commit()
    return result


def open_round(row: FundingRound | None = None) -> FundingRound | None:
    """The round named by ``PROGRAMME`` (``row``, if the caller loaded it already), if it is
    loaded and accepting applications today."""
    row = row if row is not None else configured_round()
    if row is None or not row.is_open(clock.today()):
        return None
    return row


def configured_round() -> FundingRound | None:
    code = current_app.config["PROGRAMME"]
    return db.session.scalar(select(FundingRound).filter_by(code=code))
