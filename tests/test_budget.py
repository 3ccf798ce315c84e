"""Budget: grant checks, the atomic commitment (also under 30 concurrent fundings, on SQLite
and PostgreSQL) and the budget page."""

from __future__ import annotations

import re
import threading
from xml.etree import ElementTree

import pytest
from sqlalchemy import select, update

from app.cases import budget, workflow
from app.extensions import db
from app.models import Application, Event, FundingRound, User
from app.programmes import configured_round
from tests.factories import create_application, create_reviewed_application
from tests.fixtures.workspace import bulk_insert_cases


def make_reviewed(staff: User, reviewer: User, **overrides) -> Application:
    """A case that went submitted → reviewed through the workflow."""
    return create_reviewed_application(staff, reviewer, **overrides)


def set_budget(cents: int) -> FundingRound:
    rnd = configured_round()
    db.session.execute(
        update(FundingRound).where(FundingRound.id == rnd.id).values(budget_cents=cents)
    )
    db.session.commit()
    db.session.refresh(rnd)
    return rnd


def test_check_grant_limits(app):
    application, _ = create_application(
        personnel_costs=8_000_000, other_costs=2_000_000, requested_grant=7_000_000
    )
    for amount, needle in (
        (None, "größer als 0"),
        (0, "größer als 0"),
        (-5, "größer als 0"),
        (7_000_001, "beantragten Zuschuss"),
    ):
        with pytest.raises(budget.FundingError) as info:
            budget.check_grant(application, amount)
        assert needle in str(info.value.message)
    budget.check_grant(application, 7_000_000)  # exactly 70 % of 100.000 € total costs

    # a request above the rate (the eligibility check only remarks it): funding is capped
    above, _ = create_application(
        personnel_costs=8_000_000,
        other_costs=2_000_000,
        own_funds=1_000_000,
        third_party_funds=0,
        requested_grant=9_000_000,
    )
    assert budget.grant_limit_cents(above) == 7_000_000
    with pytest.raises(budget.FundingError) as info:
        budget.check_grant(above, 7_500_000)
    assert "Förderquote von 70 %" in str(info.value.message)
    assert "70.000,00" in str(info.value.message)


def test_commit_funds_is_conditional(app):
    application, _ = create_application()
    rnd = set_budget(10_000_000)
    budget.commit_funds(application, 6_000_000)
    db.session.commit()
    assert db.session.get(FundingRound, rnd.id).committed_cents == 6_000_000
    with pytest.raises(budget.FundingError) as info:
        budget.commit_funds(application, 4_000_001)
    message = str(info.value.message)
    assert "40.000,00\xa0€" in message  # what is left, as German currency
    db.session.rollback()
    assert db.session.get(FundingRound, rnd.id).committed_cents == 6_000_000
    budget.commit_funds(application, 4_000_000)  # exactly the rest fits
    db.session.commit()
    assert db.session.get(FundingRound, rnd.id).remaining_cents == 0


def test_thirty_concurrent_fundings_never_overcommit(app, staff_user, reviewer_user):
    amount = 7_000_000
    cases = [make_reviewed(staff_user, reviewer_user) for _ in range(30)]
    rnd = set_budget(100_000_000)  # 1 Mio. €: 14 of the 30 grants of 70.000 € fit
    ids = [c.id for c in cases]
    staff_id = staff_user.id  # read here: the threads must not touch the test's session
    barrier = threading.Barrier(len(ids))
    outcomes: dict[int, str] = {}
    errors: list[BaseException] = []

    def fund(case_id: int) -> None:
        try:
            with app.app_context():
                user = db.session.get(User, staff_id)
                application = db.session.get(Application, case_id)
                # End the read transaction before waiting: on SQLite every transaction holds
                # the write lock (BEGIN IMMEDIATE), and it must not be held across the barrier.
                db.session.rollback()
                barrier.wait(timeout=30)
                try:
                    workflow.apply_transition(application, "fund", user=user, granted_amount=amount)
                    db.session.commit()
                    outcomes[case_id] = "funded"
                except workflow.TransitionError as exc:
                    db.session.rollback()
                    outcomes[case_id] = str(exc.message)
                finally:
                    db.session.remove()
        except BaseException as exc:  # surfaced below; a thread must not die silently
            errors.append(exc)

    db.session.rollback()  # the test's own session must not hold SQLite's write lock
    threads = [threading.Thread(target=fund, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(outcomes) == 30

    db.session.expire_all()
    rnd = db.session.get(FundingRound, rnd.id)
    funded = db.session.scalars(select(Application).where(Application.state == "funded")).all()
    assert rnd.committed_cents <= rnd.budget_cents
    assert rnd.committed_cents == sum(a.granted_amount for a in funded)
    assert len(funded) == 14 == sum(1 for o in outcomes.values() if o == "funded")
    for case_id, outcome in outcomes.items():
        application = db.session.get(Application, case_id)
        if outcome == "funded":
            assert application.state == "funded" and application.granted_amount == amount
        else:
            assert "Budget" in outcome and "20.000,00\xa0€" in outcome
            assert application.state == "reviewed" and application.granted_amount is None
            kinds = [e.to_state for e in application.events]
            assert "funded" not in kinds


def test_budget_page(app, staff_user, reviewer_user, client_for):
    rnd = configured_round()
    funded = make_reviewed(staff_user, reviewer_user, districts=["03351", "03353"])
    workflow.apply_transition(funded, "fund", user=staff_user, granted_amount=5_000_000)
    db.session.commit()
    create_application(districts=["03351"], priorities=["5.1"], requested_grant=2_000_000)
    create_application(districts=["03351"], requested_grant=1_000_000)
    withdrawn, _ = create_application(districts=["03351"], requested_grant=3_000_000)
    workflow.apply_transition(withdrawn, "withdraw")
    db.session.commit()

    overview = budget.overview(
        rnd, {"district": {"03351": "Celle", "03353": "Harburg"}, "priority": {}}
    )
    assert overview.committed_cents == 5_000_000
    assert overview.open_requested_cents == 3_000_000  # withdrawn and funded are not open
    assert overview.open_count == 2
    assert overview.left_cents == rnd.budget_cents - 5_000_000
    celle = next(line for line in overview.by_district if line.key == "03351")
    harburg = next(line for line in overview.by_district if line.key == "03353")
    assert (celle.committed_cents, celle.open_requested_cents, celle.open_count) == (
        5_000_000,
        3_000_000,
        2,
    )
    assert harburg.committed_cents == 5_000_000  # counted in each of its districts

    client = client_for(staff_user)
    response = client.get("/staff/budget")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<svg" in html and "<title" in html and "<desc" in html and "<table" in html
    assert "zählt in jedem davon" in html
    assert " style=" not in html and "<script" not in html  # the CSP allows neither inline
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert "50.000,00" in html and "30.000,00" in html
    for svg in re.findall(r"<svg.*?</svg>", html, flags=re.S):
        ElementTree.fromstring(svg)  # noqa: S314 - our own page: is the inline SVG well-formed?
    # bars are percentages of the chart's width (no viewBox): the longest fills it
    widths = [
        float(w) for w in re.findall(r'<rect class="bar-[a-z]+" [^>]*width="([\d.]+)%"', html)
    ]
    assert max(widths) == pytest.approx(100)

    assert client_for(reviewer_user).get("/staff/budget").status_code == 403
    assert client_for(None).get("/staff/budget").status_code == 302


def test_budget_page_with_many_cases(app, staff_user, client_for):
    bulk_insert_cases(500, configured_round())
    response = client_for(staff_user).get("/staff/budget")
    assert response.status_code == 200


def test_same_case_funded_twice_at_once_commits_once(app, staff_user, reviewer_user):
    """Two staff members fund the same case at the same moment: one wins, funds once."""
    application = make_reviewed(staff_user, reviewer_user)
    case_id, staff_id, round_id = application.id, staff_user.id, application.round_id
    barrier = threading.Barrier(2)
    results: list[str] = []
    errors: list[BaseException] = []

    def fund(amount: int) -> None:
        try:
            with app.app_context():
                user = db.session.get(User, staff_id)
                case = db.session.get(Application, case_id)
                assert case.state == "reviewed"  # both saw the case as fundable
                if db.engine.dialect.name == "sqlite":
                    # SQLite serialises whole transactions (BEGIN IMMEDIATE): release the lock.
                    # On PostgreSQL both keep the loaded "reviewed" case, so only the
                    # conditional state UPDATE in apply_transition can stop the second one.
                    db.session.rollback()
                barrier.wait(timeout=30)
                try:
                    workflow.apply_transition(case, "fund", user=user, granted_amount=amount)
                    db.session.commit()
                    results.append("funded")
                except workflow.TransitionError:
                    db.session.rollback()
                    results.append("refused")
                finally:
                    db.session.remove()
        except BaseException as exc:
            errors.append(exc)

    db.session.rollback()
    threads = [threading.Thread(target=fund, args=(a,)) for a in (5_000_000, 6_000_000)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sorted(results) == ["funded", "refused"]
    db.session.expire_all()
    case = db.session.get(Application, case_id)
    assert db.session.get(FundingRound, round_id).committed_cents == case.granted_amount
    funded_events = db.session.scalar(
        select(db.func.count())
        .select_from(Event)
        .where(Event.application_id == case_id, Event.to_state == "funded")
    )
    assert funded_events == 1
