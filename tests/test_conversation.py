"""The whole conversation over HTTP and real SMTP with the real worker (``python -m workers
--burst``) and the real reply listener, in German and English:

draft → resume → submit → request information → amendment → re-check → message → reply by
email → reviewed → funded.
"""

from __future__ import annotations

import re
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from app.extensions import db
from app.models import Application, EligibilityCheck, Event, Notification
from scripts.services import free_port
from tests.factories import form_tokens, hidden_fields, valid_form_data
from tests.fixtures.pipeline import run_worker_process
from tests.fixtures.workspace import csrf_from
from workers.inbound import start_listener

BASE = "https://foerderung.example.org"
APPLICANT = "erika@bildungswerk-heide.example"


def kinds_to(smtp, address: str) -> list[str]:
    db.session.expire_all()
    ids = [str(m["Message-ID"]) for m in smtp.messages if str(m["To"]) == address]
    rows = dict(
        db.session.execute(
            select(Notification.message_id, Notification.kind).where(
                Notification.message_id.in_(ids)
            )
        ).all()
    )
    return [rows.get(i) for i in ids]


def last_mail(smtp, address: str, kind: str):
    for message in reversed(smtp.messages):
        if str(message["To"]) != address:
            continue
        db.session.expire_all()
        found = db.session.scalar(
            select(Notification.kind).filter_by(message_id=str(message["Message-ID"]))
        )
        if found == kind:
            return message
    raise AssertionError(f"no {kind} mail to {address}: {kinds_to(smtp, address)}")


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def path_in(message, pattern: str) -> str:
    match = re.search(re.escape(BASE) + pattern, text_of(message))
    assert match, text_of(message)
    return match.group(0).removeprefix(BASE)


@pytest.mark.slow
@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
@pytest.mark.parametrize("language", ["de", "en"])
def test_the_whole_conversation(app, client, smtp, pipeline_env, make_user, client_for, language):
    app.config["BASE_URL"] = BASE
    pipeline_env["BASE_URL"] = BASE
    staff_user = make_user("staff", email="sachbearbeitung@example.org", name="Sam Staff")
    reviewer_user = make_user("reviewer", email="gutachter@example.org", name="Rita Review")
    listener = start_listener(app, "127.0.0.1", free_port())
    try:
        _conversation(app, client, smtp, pipeline_env, staff_user, reviewer_user, client_for,
                      listener, language)  # fmt: skip
    finally:
        listener.stop()


def _conversation(
    app, client, smtp, env, staff_user, reviewer_user, client_for, listener, language
):
    # 1. draft: half a form, saved; the resume link comes by email
    half = valid_form_data(language=language, requested_grant="")
    saved = client.post(
        "/antrag",
        data={**form_tokens(client), **half, "action": "save_draft"},
        content_type="multipart/form-data",
    )
    assert saved.status_code == 200
    run_worker_process(env)
    smtp.wait_for(1)
    resume = path_in(last_mail(smtp, APPLICANT, "draft_saved"), r"/antrag/entwurf/\S+")

    # 2. resume in another browser, complete, check, submit
    browser = app.test_client()
    form = browser.get(resume).get_data(as_text=True)
    assert 'value="Bildungswerk Heide e. V."' in form
    fields = MultiDict(hidden_fields(form))
    data = {**valid_form_data(language=language), "csrf_token": fields["csrf_token"]}
    data["started"] = fields["started"]
    check = browser.post(
        "/antrag", data={**data, "action": "check"}, content_type="multipart/form-data"
    )
    assert check.status_code == 200
    payload = MultiDict(hidden_fields(check.get_data(as_text=True)))
    payload["action"] = "submit"
    confirmation = browser.post("/antrag", data=payload, follow_redirects=True).get_data(
        as_text=True
    )
    reference = re.search(r"NON-\d{4}-\d{4}", confirmation).group(0)
    application = db.session.scalar(select(Application).filter_by(reference=reference))
    run_worker_process(env)
    smtp.wait_for(4)
    assert {"receipt", "eligibility_result"} <= set(kinds_to(smtp, APPLICANT))

    # 3. staff ask for information (due in 14 days)
    staff = client_for(staff_user)
    case = f"/staff/cases/{application.id}"
    page = staff.get(f"{case}/action/request_information").get_data(as_text=True)
    assert "Diese E-Mails werden gesendet" in page and APPLICANT in page
    due = re.search(
        r'name="due_date"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="due_date"', page
    )
    asked = staff.post(
        f"{case}/action/request_information",
        data={
            "reason": "Bitte nennen Sie die Drittmittelgeber.",
            "due_date": due.group(1) or due.group(2),
            "csrf_token": csrf_from(page),
        },
    )
    assert asked.status_code == 302
    run_worker_process(env)
    request_mail = last_mail(smtp, APPLICANT, "information_requested")
    assert "Drittmittelgeber" in text_of(request_mail)
    assert str(request_mail["Reply-To"]).startswith(f"antwort+a{application.id}.")

    # 4. the applicant amends through the status page of that email
    status = path_in(request_mail, r"/status/[A-Za-z0-9_-]+")
    amend_page = client.get(f"{status}/ergaenzen").get_data(as_text=True)
    amended = {
        **valid_form_data(language=language, partners="Landkreis Heidekreis (Drittmittel)"),
        "csrf_token": csrf_from(amend_page),
    }
    check = client.post(f"{status}/ergaenzen", data={**amended, "action": "check"},
                        content_type="multipart/form-data")  # fmt: skip
    payload = MultiDict(hidden_fields(check.get_data(as_text=True)))
    payload["action"] = "submit"
    assert client.post(f"{status}/ergaenzen", data=payload).status_code == 303
    run_worker_process(env)
    db.session.expire_all()
    application = db.session.get(Application, application.id)
    assert application.state == "submitted" and application.version == 2
    versions = db.session.scalars(select(EligibilityCheck.application_version)).all()
    assert sorted(versions) == [1, 2]  # checked again
    assert "amended" in kinds_to(smtp, "staff@example.org")
    assert kinds_to(smtp, APPLICANT).count("eligibility_result") == 2
    case_page = staff.get(case).get_data(as_text=True)
    assert "Landkreis Heidekreis (Drittmittel)" in case_page and "Fassung 2" in case_page

    # 5. staff write; the applicant answers by email, to the reply address
    page = staff.get(case).get_data(as_text=True)
    staff.post(f"{case}/messages", data={"body": "Danke! Eine Frage noch: Start im März?",
                                         "csrf_token": csrf_from(page)})  # fmt: skip
    run_worker_process(env)
    question = last_mail(smtp, APPLICANT, "message_to_applicant")
    answer = EmailMessage()
    answer["From"] = APPLICANT
    answer["To"] = str(question["Reply-To"])
    answer["Subject"] = "Re: " + str(question["Subject"])
    answer["Message-ID"] = make_msgid()
    answer.set_content("Ja, Start im März.\n\n-- \nErika\n\n> Danke! Eine Frage noch")
    db.session.commit()
    with smtplib.SMTP(listener.hostname, listener.port, timeout=30) as server:
        server.send_message(answer)
    run_worker_process(env)
    db.session.expire_all()
    posted = db.session.scalar(
        select(Event).where(Event.kind == "message", Event.actor_label == "applicant")
    )
    assert posted.comment == "Ja, Start im März."
    to_staff = last_mail(smtp, "staff@example.org", "message_to_staff")
    assert "Ja, Start im März." in text_of(to_staff)

    # 6. review, reviewed, funded
    page = staff.get(case).get_data(as_text=True)
    staff.post(f"{case}/review-requests",
               data={"reviewers": [reviewer_user.id], "csrf_token": csrf_from(page)})  # fmt: skip
    reviewer = client_for(reviewer_user)
    review_page = reviewer.get(f"/review/cases/{application.id}").get_data(as_text=True)
    reviewer.post(
        f"/review/cases/{application.id}",
        data={"recommendation": "approve", "score_regional": "5", "score_strategy": "4",
              "score_feasibility": "4", "score_sustainability": "3", "no_conflict": "y",
              "csrf_token": csrf_from(review_page)},
    )  # fmt: skip
    for action, data in (("mark_reviewed", {}), ("fund", {"granted_amount": "65.000,00"})):
        page = staff.get(f"{case}/action/{action}").get_data(as_text=True)
        done = staff.post(f"{case}/action/{action}", data={**data, "csrf_token": csrf_from(page)})
        assert done.status_code == 302, action
    run_worker_process(env)
    db.session.expire_all()
    assert db.session.get(Application, application.id).state == "funded"
    kinds = kinds_to(smtp, APPLICANT)
    for kind in ("draft_saved", "receipt", "information_requested", "message_to_applicant",
                 "reviewed", "funded"):  # fmt: skip
        assert kind in kinds, (kind, kinds)
    languages = set(
        db.session.scalars(select(Notification.language).filter_by(recipient=APPLICANT))
    )
    assert languages == {language}
    funded = last_mail(smtp, APPLICANT, "funded")
    amount = r"65\.000,00\s€" if language == "de" else r"€65,000\.00"
    assert re.search(amount, text_of(funded))
