"""Fuzzing the logged-in side: no form post or query string may cause a 500.

Every POST route of the staff and review areas (and the action links, login and language
switch) gets random field values from a staff member's and a reviewer's session; the case
list gets random filters, sorts and pages. The public form has its own fuzz test.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.cases import actionlinks
from tests.factories import create_application
from tests.fixtures.workspace import add_check, csrf_from

pytestmark = pytest.mark.parametrize("app", ["sqlite"], indirect=True)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
FIELDS = (
    "reason",
    "granted_amount",
    "outcome",
    "comment",
    "reviewers",
    "recommendation",
    "score_regional",
    "score_strategy",
    "score_feasibility",
    "score_sustainability",
    "no_conflict",
    "conflict_comment",
    "email",
    "password",
    "lang",
    "next",
)
nasty = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "0",
            "-1",
            "6",
            "1e9",
            "9" * 30,
            "70.000,00",
            "1.000",
            "y",
            "approve",
            "pass",
            "fail",
            "<script>",
            "\x00",
            "//evil.example",
            "/staff/cases",
            "de",
            "en",
        ]
    ),
)
form_values = st.dictionaries(st.sampled_from(FIELDS), nasty, max_size=6)


def _settings():
    return settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


@pytest.fixture
def world(app, make_user, client_for):
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a crash must show up as a 500 here
    staff_user = make_user("staff", email="fuzz-staff@example.org")
    reviewer_user = make_user("reviewer", email="fuzz-review@example.org")
    application, token = create_application()
    check = add_check(application, {"region": "pass", "funding_rate": "fail"})
    staff, reviewer = client_for(staff_user), client_for(reviewer_user)
    case = application.id
    # every kind of email link, bound to the fuzzing staff member
    links = {a: actionlinks.action_url(case, a, staff_user.id) for a in actionlinks.ACTIONS}
    posts = [
        *(
            f"/staff/cases/{case}/action/{a}"
            for a in ("mark_reviewed", "reject", "fund", "reopen", "withdraw", "bogus")
        ),
        f"/staff/cases/{case}/results/{check.results[0].id}/override",
        f"/staff/cases/{case}/results/999999/override",
        f"/staff/cases/{case}/review-requests",
        "/staff/operations/emails/1/resend",
        f"/review/cases/{case}",
        f"/review/cases/{case}/conflict",
        f"/status/{token}/zurueckziehen",
        "/sprache",
        "/login",
        "/logout",
        "/staff/notifications",
        *(link.removeprefix(app.config["BASE_URL"]) for link in links.values()),
    ]
    return {"staff": staff, "reviewer": reviewer, "posts": posts}


def test_posts_never_cause_a_500(app, world):
    tokens = {
        name: csrf_from(
            client.get("/staff/operations" if name == "staff" else "/review/").data.decode()
        )
        for name, client in (("staff", world["staff"]), ("reviewer", world["reviewer"]))
    }

    @_settings()
    @given(
        who=st.sampled_from(["staff", "reviewer"]),
        url=st.sampled_from(world["posts"]),
        data=form_values,
        with_csrf=st.booleans(),
    )
    def run(who, url, data, with_csrf):
        if url == "/logout":  # would end the session the other examples rely on
            return
        payload = {**data, **({"csrf_token": tokens[who]} if with_csrf else {})}
        response = world[who].post(url, data=payload)
        assert response.status_code < 500, (url, payload, response.status_code)

    run()


def test_case_list_queries_never_cause_a_500(app, world):
    keys = (
        "state",
        "eligibility",
        "district",
        "priority",
        "project_type",
        "q",
        "sort",
        "order",
        "page",
        "round",
        "per_page",
        "next",
    )

    @_settings()
    @given(
        query=st.dictionaries(st.sampled_from(keys), nasty, max_size=5),
        export=st.sampled_from(["", "/export.csv", "/export.xlsx"]),
    )
    def run(query, export):
        response = world["staff"].get(f"/staff/cases{export}", query_string=query)
        assert response.status_code < 500, (query, response.status_code)
        review = world["reviewer"].get("/review/", query_string=query)
        assert review.status_code < 500, (query, review.status_code)
        login = world["reviewer"].get("/login", query_string=query)
        assert login.status_code < 500, (query, login.status_code)

    run()
