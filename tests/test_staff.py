"""Staff workspace: case list (filters, search, sort, pages, constant queries), exports, the
case page with attachment, eligibility override, reviewer requests and transition preview."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from sqlalchemy import select

from app import labels
from app.cases import exports
from app.cases.queries import CaseFilter, case_query
from app.extensions import db
from app.models import Application, Event, Notification, ReviewRequest, StoredFile
from app.programmes import configured_round
from app.staff import routes as staff_routes
from tests.factories import create_application
from tests.fixtures.workspace import add_check, bulk_insert_cases, count_queries


@pytest.fixture
def staff(staff_user, client_for):
    return client_for(staff_user)


def test_case_list_filters_search_and_sort(app, staff):
    a, _ = create_application(org_name="Alpha Bildung e. V.", title="Pflege stärken")
    b, _ = create_application(
        org_name="Beta gGmbH",
        legal_form="ggmbh",
        title="Digitale Werkstatt",
        districts=["03351"],
        priorities=["5.1"],
        project_type="weiterbildung",
        personnel_costs=3_000_000,
        other_costs=1_000_000,
        own_funds=1_200_000,
        third_party_funds=0,
        requested_grant=2_800_000,
    )
    b.eligibility_outcome = "not_eligible"
    db.session.commit()

    def refs(**args):
        html = staff.get("/staff/cases", query_string=args).get_data(as_text=True)
        return [r for r in (a.reference, b.reference) if r in html]

    assert refs() == [a.reference, b.reference]
    assert refs(district="03351") == [b.reference]
    assert refs(priority="1.1") == [a.reference]
    assert refs(project_type="weiterbildung") == [b.reference]
    assert refs(eligibility="not_eligible") == [b.reference]
    assert refs(eligibility="pending") == [a.reference]
    assert refs(state="funded") == []
    assert refs(q="beta") == [b.reference]  # case-insensitive, organisation
    assert refs(q="WERKSTATT") == [b.reference]  # title
    assert refs(q=a.reference.lower()) == [a.reference]  # reference
    assert refs(q="100%") == []  # LIKE wildcards are escaped
    assert refs(q="Bet\x00a") == [b.reference]  # a NUL is dropped (FTS5 stopped at it)
    # amount ascending: b (28.000 €) before a (70.000 €)
    html = staff.get("/staff/cases?sort=amount&dir=asc").get_data(as_text=True)
    assert html.index(b.reference) < html.index(a.reference)
    html = staff.get("/staff/cases?sort=amount&dir=desc").get_data(as_text=True)
    assert html.index(a.reference) < html.index(b.reference)
    # a sort outside the whitelist falls back to the default instead of failing
    assert staff.get("/staff/cases?sort=contact_email;drop&dir=sideways").status_code == 200


def test_case_list_search_follows_every_change_of_the_searched_columns(app, staff):
    """The search index (FTS5 on SQLite, trigram indexes on PostgreSQL) is kept in step with
    the cases: a new name is found, the old one no longer; deleted cases are gone."""
    a, _ = create_application(org_name="Träger Ölmühle e. V.", title='Das "Quoted" Projekt')
    b, _ = create_application(org_name="Zweiter Träger", title="Kurz")

    def refs(q):
        html = staff.get("/staff/cases", query_string={"q": q}).get_data(as_text=True)
        return [r for r in (a.reference, b.reference) if r in html]

    assert refs("LMühl") == [a.reference]  # substring inside a word, any case
    assert refs('"quoted"') == [a.reference]  # quotes are text, not search syntax
    assert refs("Träger") == [a.reference, b.reference]
    assert refs("ku") == [b.reference]  # two characters: no trigram, still found
    a.org_name = "Neuer Name gGmbH"
    db.session.commit()
    assert refs("lmühl") == []
    assert refs("neuer name") == [a.reference]
    db.session.delete(b)
    db.session.commit()
    assert refs("zweiter") == []


@pytest.mark.parametrize("app", ["postgresql"], indirect=True)
def test_case_list_search_can_use_the_trigram_indexes(app):
    """On PostgreSQL the search is ``lower(col) LIKE …``, the expression of the trigram
    indexes (ILIKE could not use them): with scans other than bitmap scans off (the test
    table is nearly empty), the plan shows them."""
    # (PostgreSQL only: SQLite searches its FTS5 table)
    compiled = case_query(CaseFilter(q="träger 471")).compile(db.engine)
    with db.engine.connect() as conn:
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        conn.exec_driver_sql("SET LOCAL enable_indexscan = off")
        plan = "\n".join(
            row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params)
        )
    for column in ("reference", "org_name", "title"):
        assert f"ix_application_{column}_trgm" in plan, plan
    # no pending list that a search would have to read through after many inserts
    options = db.session.execute(
        sa.text("SELECT relname, reloptions FROM pg_class WHERE relname LIKE 'ix_%trgm'")
    ).all()
    assert sorted(options) == [
        (f"ix_application_{column}_trgm", ["fastupdate=off"])
        for column in ("org_name", "reference", "title")
    ]
    # and statistics fine enough to tell a rare term from a common one
    targets = db.session.execute(
        sa.text(
            "SELECT attrelid::regclass::text, attstattarget FROM pg_attribute "
            "WHERE attrelid::regclass::text LIKE 'ix_%trgm'"
        )
    ).all()
    assert sorted(targets) == [
        (f"ix_application_{column}_trgm", 1000) for column in ("org_name", "reference", "title")
    ]


def test_case_list_queries_do_not_grow_with_cases(app, staff):
    rnd = configured_round()
    bulk_insert_cases(10, rnd)
    staff.get("/staff/cases")  # warm up: the first request loads templates etc.
    # each request runs in its own app context and session (WorkspaceClient): a cold start
    with count_queries() as few:
        small = staff.get("/staff/cases?district=03358&sort=amount")
    assert small.status_code == 200
    bulk_insert_cases(1_990, rnd, start=10)
    assert db.session.scalar(select(db.func.count(Application.id))) == 2_000
    with count_queries() as many:
        large = staff.get("/staff/cases?district=03358&sort=amount")
    assert large.status_code == 200
    assert len(many) == len(few), (few, many)
    assert "Seite 1 von" in large.get_data(as_text=True)
    # the last page too
    with count_queries() as last:
        assert staff.get("/staff/cases?page=80").status_code == 200
    assert len(last) == len(few)


def test_pagination(app, staff):
    bulk_insert_cases(30, configured_round())
    first = staff.get("/staff/cases?sort=reference&dir=asc").get_data(as_text=True)
    second = staff.get("/staff/cases?sort=reference&dir=asc&page=2").get_data(as_text=True)
    assert "NON-B000000" in first and "NON-B000025" not in first
    assert "NON-B000025" in second and "NON-B000000" not in second
    assert "Seite 2 von 2" in second
    assert 'rel="prev"' in second


@pytest.mark.parametrize(
    ("language", "more_than", "exact", "page"),
    [
        ("de", "Mehr als 1.000 Anträge gefunden.", "1030 Anträge gefunden.", "Seite"),
        ("en", "More than 1,000 applications found.", "1030 applications found.", "Page"),
    ],
)
def test_case_list_count_stops_at_the_cap(app, staff, language, more_than, exact, page):
    """Beyond the cap the list says "more than …" and pages on without a last page; below
    it, the exact count and "page 1 of 42" as ever. The cap costs no query."""
    bulk_insert_cases(1_030, configured_round())
    headers = {"Accept-Language": language}

    def get(url):
        with count_queries() as queries:
            response = staff.get(url, headers=headers)
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        pager = re.search(r'<span aria-current="page">([^<]*)</span>', html)
        return html, pager and pager.group(1), len(queries)

    exact_page, pager, exact_queries = get("/staff/cases")
    assert exact in exact_page and more_than not in exact_page
    assert pager == f"{page} 1 {'von' if language == 'de' else 'of'} 42"

    app.config["CASE_LIST_COUNT_CAP"] = 1_000
    first, pager, capped_queries = get("/staff/cases?sort=reference&dir=asc")
    assert capped_queries == exact_queries
    assert more_than in first and exact not in first
    assert pager == f"{page} 1"  # no last page is claimed
    assert "NON-B000000" in first and 'rel="prev"' not in first
    assert re.search(r'href="/staff/cases\?[^"]*\bpage=2\b[^"]*" rel="next"', first)
    # page by page past the cap: page 41 is full, page 42 has the last five cases
    page_41, pager, _ = get("/staff/cases?sort=reference&dir=asc&page=41")
    assert pager == f"{page} 41" and more_than in page_41
    assert "NON-B001024" in page_41 and 'rel="next"' in page_41
    page_42, pager, _ = get("/staff/cases?sort=reference&dir=asc&page=42")
    assert pager == f"{page} 42"
    assert "NON-B001029" in page_42 and "NON-B001024" not in page_42
    assert 'rel="prev"' in page_42 and 'rel="next"' not in page_42
    # a filter below the cap counts exactly again
    eligible, pager, _ = get("/staff/cases?eligibility=eligible")
    assert more_than not in eligible and "258 " in eligible
    assert pager.endswith(" 11")


def test_exports_csv_and_xlsx(app, staff):
    a, _ = create_application(org_name='=HYPERLINK("http://evil")', title="@SUM(1)")
    create_application(org_name="Ruhig e. V.", districts=["03351"])
    response = staff.get("/staff/cases/export.csv?district=03358")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    body = response.data
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    header, *data = rows
    assert header[0] == "Aktenzeichen" and "Beantragter Zuschuss" in header
    assert len(data) == 1  # the filter applies
    row = dict(zip(header, data[0], strict=True))
    assert row["Organisation"].startswith("'=")  # formula injection neutralised
    assert row["Projekttitel"] == "'@SUM(1)"
    assert row["Beantragter Zuschuss"] == "70000,00"
    assert row["Projektbeginn"] == a.start_date.strftime("%d.%m.%Y")

    response = staff.get("/staff/cases/export.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    header = [c.value for c in sheet[1]]
    assert header == exports.headers()
    values = {
        r[0]: dict(zip(header, r, strict=True))
        for r in sheet.iter_rows(min_row=2, values_only=True)
    }
    row = values[a.reference]
    assert row["Beantragter Zuschuss"] == 70000  # a number, in euros
    assert isinstance(row["Projektbeginn"], dt.datetime | dt.date)
    assert row["Organisation"].startswith("'=")
    money_cell = sheet.cell(row=2, column=header.index("Beantragter Zuschuss") + 1)
    assert "€" in money_cell.number_format


@pytest.mark.parametrize(
    ("language", "names"),
    [
        ("de", ["Förderrunde 2025–2027", "Weiterbildungsprojekt", "1.1 Unterstützung der"]),
        ("en", ["Funding round 2025–2027", "Further-training project", "1.1 Helping businesses"]),
    ],
)
def test_staff_pages_name_the_rounds_data_in_the_readers_language(app, staff, language, names):
    application, _ = create_application(priorities=["1.1"], project_type="weiterbildung")
    headers = {"Accept-Language": language}
    listing = staff.get("/staff/cases", headers=headers).get_data(as_text=True)
    case = staff.get(f"/staff/cases/{application.id}", headers=headers).get_data(as_text=True)
    budget = staff.get("/staff/budget", headers=headers).get_data(as_text=True)
    round_name, project_type, priority = names
    assert round_name in listing and project_type in listing and priority in listing  # filters
    assert round_name in case and project_type in case and priority in case
    assert round_name in budget and priority in budget


def test_case_list_builds_the_district_names_once_per_request(app, staff, monkeypatch):
    for _ in range(3):
        create_application(districts=["03355", "03358"])
    built = []
    district_names = labels.district_names

    def counted(rnd, language="de"):
        built.append(language)
        return district_names(rnd, language)

    monkeypatch.setattr(labels, "district_names", counted)
    monkeypatch.setattr(staff_routes, "district_names", counted)
    english = staff.get("/staff/cases", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert english.count("Heidekreis") >= 4  # a cell of each row, and the filter's option
    assert built == ["en"]  # the filter's list and six names, one table
    # the next request builds its own: nothing outlives the request that made it
    staff.get("/staff/cases", headers={"Accept-Language": "de"})
    assert built == ["en", "de"]


def test_case_page_shows_everything(app, staff, post_form):
    application, _ = create_application(contact_phone="04131 999")
    add_check(application, {"region": "pass", "priority": "remark", "rate": "fail"})
    page = staff.get(f"/staff/cases/{application.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for text in (
        application.title,
        application.org_name,
        "04131 999",
        "Regionaler Bezug",
        "Förderfähigkeitsprüfung",
        "Regel rate",
        "E-Mail-Protokoll",
        "Verlauf",
        "Eingangsbestätigung",  # the receipt email, as recorded
        "Als begutachtet markieren",
        "Ablehnen",
    ):
        assert text in html, text
    assert "Bewilligen" not in html  # not allowed from "submitted"
    assert page.headers["Cache-Control"] == "no-store"


def test_override_rule_recomputes_outcome_and_logs(app, staff, post_form, staff_user):
    application, _ = create_application()
    check = add_check(application, {"region": "pass", "rate": "fail"})
    rate = next(r for r in check.results if r.rule == "rate")
    url = f"/staff/cases/{application.id}"
    missing = post_form(staff, url, f"{url}/results/{rate.id}/override", {"outcome": "pass"})
    assert missing.status_code == 302
    db.session.expire_all()
    assert db.session.get(Application, application.id).eligibility_outcome == "not_eligible"

    response = post_form(
        staff,
        url,
        f"{url}/results/{rate.id}/override",
        {"outcome": "remark", "comment": "Personalkosten telefonisch geklärt."},
        follow_redirects=True,
    )
    assert response.status_code == 200
    db.session.expire_all()
    application = db.session.get(Application, application.id)
    assert application.eligibility_outcome == "remarks"
    event = db.session.scalar(
        select(Event).filter_by(application_id=application.id, kind="override")
    )
    assert event.actor_id == staff_user.id and "telefonisch geklärt" in event.comment
    assert "telefonisch geklärt" in response.get_data(as_text=True)
    # a result of another case is not reachable through this case's URL
    other, _ = create_application(title="Anderes Projekt")
    assert (
        post_form(
            staff,
            url,
            f"/staff/cases/{other.id}/results/{rate.id}/override",
            {"outcome": "pass", "comment": "x"},
        ).status_code
        == 404
    )


def test_attachment_download(app, staff, client_for, reviewer_user):
    application, _ = create_application()
    db.session.add(StoredFile(name="abc123.pdf", pending=False, size=15, data=b"%PDF-1.4\n%test\n"))
    application.attachment_name = "abc123.pdf"
    application.attachment_original_name = "Projektbeschreibung.pdf"
    application.attachment_size = 15
    db.session.commit()
    url = f"/staff/cases/{application.id}/attachment"
    for client in (staff, client_for(reviewer_user)):
        response = client.get(url)
        assert response.status_code == 200
        assert response.data.startswith(b"%PDF")
        assert response.headers["Content-Disposition"].startswith("attachment;")
        # issue 7, point 4: always the reference, never the applicant's file name
        disposition = response.headers["Content-Disposition"]
        assert f"filename={application.reference}.pdf" in disposition
        assert "Projektbeschreibung" not in disposition
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        response.close()
    assert client_for(None).get(url).status_code == 302


def test_request_reviewers_sends_each_a_link(app, staff, post_form, make_user):
    application, _ = create_application()
    r1 = make_user("reviewer", email="r1@example.org", name="Rita Eins")
    r2 = make_user("reviewer", email="r2@example.org", name="Rolf Zwei")
    url = f"/staff/cases/{application.id}"
    response = post_form(
        staff,
        url,
        f"{url}/review-requests",
        {"reviewers": [r1.id, r2.id]},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "Rita Eins" in response.get_data(as_text=True)
    requests = db.session.scalars(select(ReviewRequest).filter_by(application_id=application.id))
    assert {r.reviewer_id for r in requests} == {r1.id, r2.id}
    mails = db.session.scalars(
        select(Notification).filter_by(application_id=application.id, kind="review_request")
    ).all()
    assert {m.recipient for m in mails} == {"r1@example.org", "r2@example.org"}
    assert all(f"/review/cases/{application.id}" in m.body_text for m in mails)
    assert all(m.body_text.count(app.config["BASE_URL"]) >= 1 for m in mails)
    # asking again sends nothing new
    post_form(staff, url, f"{url}/review-requests", {"reviewers": [r1.id]})
    assert (
        db.session.scalar(select(db.func.count(Notification.id)).filter_by(kind="review_request"))
        == 2
    )


def test_request_for_an_unknown_reviewer_is_refused_in_german(app, staff, post_form):
    application, _ = create_application()
    url = f"/staff/cases/{application.id}"
    response = post_form(
        staff, url, f"{url}/review-requests", {"reviewers": [999999]}, follow_redirects=True
    )
    assert "Bitte wählen Sie nur aus den angebotenen Möglichkeiten." in response.get_data(True)
    assert db.session.scalar(select(db.func.count(ReviewRequest.id))) == 0


def test_transition_confirmation_previews_emails(app, staff):
    application, _ = create_application(contact_email="antrag@traeger.example")
    page = staff.get(f"/staff/cases/{application.id}/action/reject")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Diese E-Mails werden gesendet" in html
    assert "antrag@traeger.example" in html
    assert 'name="reason"' in html
    withdraw = staff.get(f"/staff/cases/{application.id}/action/withdraw")
    assert withdraw.status_code == 404  # the applicant's step, not staff's
    assert staff.get(f"/staff/cases/{application.id}/action/fund").status_code == 409
