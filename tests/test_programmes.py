"""Funding rounds are data: files → rows, nothing of a round hard-coded."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import FundingRound
from app.programmes import ProgrammeError, parse_round, read_round_files, sync_rounds


def test_both_rounds_load_with_money_in_cents():
    rounds = {r["code"]: r for r in read_round_files()}
    assert set(rounds) == {"NON-2022", "NON-2025"}
    seed, current = rounds["NON-2022"], rounds["NON-2025"]
    assert seed["budget_cents"] == 224_000_000
    assert seed["rate_basis"] == "personnel"
    assert seed["data"]["project_types"] == []
    assert current["budget_cents"] == 234_000_000
    assert current["rate_basis"] == "total"
    weiterbildung = current["data"]["project_types"][0]
    assert weiterbildung["min_total_cents"] == 1_000_000
    assert weiterbildung["max_total_cents"] == 20_000_000
    assert weiterbildung["max_months"] == 24
    for r in rounds.values():
        assert [d["ags"] for d in r["data"]["districts"]] == [
            "03351",
            "03353",
            "03354",
            "03355",
            "03358",
            "03360",
        ]
        codes = [i["code"] for g in r["data"]["priorities"] for i in g["items"]]
        assert codes == ["1.1", "1.2", "2.1", "2.2", "3.1", "4.1", "5.1", "5.2"]


def test_sync_is_idempotent_and_keeps_committed_funds(app):
    row = db.session.scalar(select(FundingRound).filter_by(code="NON-2025"))
    row.committed_cents = 5_000_00
    db.session.commit()
    sync_rounds()
    sync_rounds()
    rows = db.session.scalars(select(FundingRound)).all()
    assert len(rows) == 2
    assert db.session.scalar(select(FundingRound).filter_by(code="NON-2025")).committed_cents == (
        5_000_00
    )


def test_cli_loads_rounds(runner):
    result = runner.invoke(args=["programmes", "load"])
    assert result.exit_code == 0, result.output
    assert "NON-2025" in result.output and "NON-2022" in result.output


def test_programme_setting_picks_the_open_round(app, client):
    assert "Förderrunde 2025–2027" in client.get("/").get_data(as_text=True)
    app.config["PROGRAMME"] = "NON-2022"
    assert "Derzeit ist keine Förderrunde geöffnet" in client.get("/").get_data(as_text=True)
    app.config["PROGRAMME"] = "GIBT-ES-NICHT"
    assert client.get("/antrag").status_code == 404


def test_seed_round_is_open_inside_its_window(app, client, monkeypatch):
    from app import clock

    monkeypatch.setattr(clock, "today", lambda: dt.date(2023, 5, 1))
    app.config["PROGRAMME"] = "NON-2022"
    html = client.get("/antrag").get_data(as_text=True)
    assert "Förderrunde 2022–2024" in html
    assert "Personalkosten" in html or "Projektpersonalkosten" in html
    assert 'name="project_type"' not in html  # the seed round has no project types


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rate_basis": "magic"}, "rate_basis"),
        ({"funding_start": dt.date(2030, 1, 1)}, "funding_start"),
        ({"applications_open": dt.date(2030, 1, 1)}, "applications_open"),
        ({"budget_eur": None}, "missing budget_eur"),
    ],
)
def test_broken_round_files_are_refused(change, message):
    raw = dict(next(r for r in _raw_rounds() if r["code"] == "NON-2025"))
    for key, value in change.items():
        if value is None:
            raw.pop(key)
        else:
            raw[key] = value
    with pytest.raises(ProgrammeError, match=message):
        parse_round(raw, "test.toml")


def test_budget_may_not_drop_below_committed(app, tmp_path):
    row = db.session.scalar(select(FundingRound).filter_by(code="NON-2025"))
    row.committed_cents = row.budget_cents
    db.session.commit()
    for path in _round_paths():
        text = path.read_text(encoding="utf-8").replace("2_340_000", "1_000")
        (tmp_path / path.name).write_text(text, encoding="utf-8")
    with pytest.raises(ProgrammeError, match="below the funds already committed"):
        sync_rounds(tmp_path)


def _round_paths():
    from app.programmes import PROGRAMME_DIR

    return sorted(PROGRAMME_DIR.glob("*.toml"))


def _raw_rounds():
    import tomllib

    return [tomllib.loads(p.read_text(encoding="utf-8")) for p in _round_paths()]
