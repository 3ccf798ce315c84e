"""A person in a real browser: the form filled with the keyboard alone, JavaScript switched off;
and every kind of page at 320, 390 and 1280 CSS pixels, checked with axe-core.

Debian's Chromium and ChromeDriver drive it (no tool downloads a browser of its own). Skipped
where they are missing, except in CI (``REQUIRE_BROWSER=1``), where that is an error. axe-core
is the npm package pinned in package-lock.json (``make test`` runs ``npm ci``); without it the
page check skips, except in CI, where that is an error too.

Screenshots of every page at 390 and 1280 px go to ``SCREENSHOT_DIR`` (default
``screenshots/browser`` in the project, not committed) for people to look at; in CI
(``CI=true``) only when ``SCREENSHOT_DIR`` is set, as nobody looks at them there.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from app import clock
from app.cases import actionlinks, messages, reviews, workflow
from app.cases.checks import check_eligibility
from app.extensions import db
from app.models import Application, Notification
from tests.factories import create_application, create_reviewed_application, valid_form_data
from tests.fixtures.auth import PASSWORD

ROOT = Path(__file__).resolve().parents[1]
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOT_DIR = Path(os.environ.get("SCREENSHOT_DIR") or ROOT / "screenshots" / "browser")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

if os.environ.get("REQUIRE_BROWSER") == "1":
    from selenium import webdriver  # in CI a missing selenium is an error, not a skip
else:
    webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    if os.environ.get("REQUIRE_BROWSER") == "1":
        raise RuntimeError("Chromium and ChromeDriver are required here (REQUIRE_BROWSER=1)")
    pytest.skip("Debian's chromium and chromium-driver are not installed", allow_module_level=True)

pytestmark = pytest.mark.parametrize("app", ["sqlite"], indirect=True)


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The app served over real HTTP on a free loopback port."""
    db.session.commit()  # release SQLite's write lock for the server's requests
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def _chrome(profile: Path, javascript: bool) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        f"--user-data-dir={profile}",
        "--window-size=1200,1000",
        "--lang=de-DE",
    ):
        options.add_argument(flag)
    prefs = {"intl.accept_languages": "de-DE,de"}
    if not javascript:
        prefs["profile.managed_default_content_settings.javascript"] = 2
    options.add_experimental_option("prefs", prefs)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


@pytest.fixture
def browser(tmp_path) -> Iterator[webdriver.Chrome]:
    # The form must work without JavaScript.
    driver = _chrome(tmp_path / "profile", javascript=False)
    try:
        yield driver
    finally:
        driver.quit()


def type_into(browser, name: str, value: str) -> None:
    element = browser.find_element(By.NAME, name)
    element.clear()
    element.send_keys(value)


def press_space_on(browser, name: str, value: str | None = None) -> None:
    """Tick a checkbox or radio button with the keyboard (focus, then space)."""
    selector = f'input[name="{name}"]' + (f'[value="{value}"]' if value else "")
    element = browser.find_element(By.CSS_SELECTOR, selector)
    if not element.is_selected():
        element.send_keys(Keys.SPACE)


def press_enter_and_wait(browser, selector: str, arrived) -> None:
    """Press Enter on a button, then wait for the next page (``arrived``: an expected
    condition that only the next page fulfils). Chromium may answer queries about the old
    page with errors while it is replaced; those are waited out too."""
    browser.find_element(By.CSS_SELECTOR, selector).send_keys(Keys.ENTER)
    WebDriverWait(browser, 20, ignored_exceptions=(WebDriverException,)).until(arrived)


def fill_form(browser, data: dict) -> None:
    for name, value in data.items():
        if name in ("districts", "priorities"):
            for item in value:
                press_space_on(browser, name, item)
        elif name in (
            "legal_form",
            "vat_deductible",
            "project_type",
            "language",
            "site_in_lower_saxony",
            "de_minimis_undertaking",
        ):
            press_space_on(browser, name, value)
        elif name.startswith("decl_"):
            press_space_on(browser, name)
        else:
            type_into(browser, name, value)


# Sets the values at once where typing them key by key is not what a test is about (the
# keyboard test above types them): ticks each named box and radio button of the given values,
# fills each other field.
_FILL_FORM = """
for (const [name, value] of Object.entries(arguments[0])) {
  const fields = document.getElementsByName(name);
  for (const field of fields) {
    if (field.type === 'checkbox' || field.type === 'radio') {
      field.checked = Array.isArray(value) ? value.includes(field.value) : field.value === value;
    } else {
      field.value = value;
    }
  }
}
"""


def fill_form_by_script(driver, data: dict) -> None:
    driver.execute_script(_FILL_FORM, data)


def test_a_person_submits_the_form_with_keyboard_only(live_server, browser, tmp_path):
    browser.get(live_server + "/")
    assert "Förderrunde 2025–2027" in browser.page_source
    # Tab from the top reaches the skip link first (keyboard users can jump to the content).
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("class") == "skip-link"

    browser.get(live_server + "/antrag")
    data = valid_form_data()
    data["requested_grant"] = "80.000"  # wrong on purpose: more than 70 % is fine for the
    data.pop("end_date")  # form, but a missing end date is not
    fill_form(browser, data)
    press_enter_and_wait(
        browser, 'button[value="check"]', EC.presence_of_element_located((By.ID, "error-summary"))
    )

    # errors listed at the top, each a link to its field; typed values kept
    summary = browser.find_element(By.ID, "error-summary")
    link = summary.find_element(By.CSS_SELECTOR, 'a[href="#end_date"]')
    assert browser.find_element(By.NAME, "org_name").get_attribute("value") == data["org_name"]
    end_date = browser.find_element(By.ID, "end_date")
    assert end_date.get_attribute("aria-invalid") == "true"
    assert "end_date-error" in end_date.get_attribute("aria-describedby")
    link.send_keys(Keys.ENTER)
    assert browser.current_url.endswith("#end_date")

    type_into(browser, "end_date", valid_form_data()["end_date"])
    for name in ("decl_not_started", "decl_subsidy_facts", "decl_privacy", "decl_truthful"):
        press_space_on(browser, name)  # unticked boxes are not re-ticked by the browser
    press_enter_and_wait(
        browser,
        'button[value="check"]',
        EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Angaben prüfen"),
    )
    assert "Angaben prüfen" in browser.find_element(By.TAG_NAME, "h1").text
    assert "100.000,00" in browser.find_element(By.TAG_NAME, "main").text  # total, computed
    # the pre-check tells what the binding submit would lead to, and still lets it happen
    assert "Vorprüfung Ihrer Angaben" in browser.page_source
    main_text = browser.find_element(By.TAG_NAME, "main").text.replace("\xa0", " ")
    assert "80 % der zuwendungsfähigen Gesamtausgaben" in main_text
    browser.save_screenshot(str(tmp_path / "check.png"))

    press_enter_and_wait(
        browser,
        'button[value="submit"]',
        EC.presence_of_element_located((By.CLASS_NAME, "reference")),
    )
    reference = browser.find_element(By.CLASS_NAME, "reference").text
    status_link = browser.find_element(By.CLASS_NAME, "status-link").text
    assert reference.startswith("NON-")

    application = db.session.scalar(select(Application).filter_by(reference=reference))
    assert application is not None
    assert application.org_name == data["org_name"]
    assert application.requested_grant == 8_000_000
    assert sorted(application.districts) == ["03355", "03358"]
    db.session.commit()

    # the status link works in the browser too (BASE_URL differs from the test server's)
    browser.get(live_server + "/status/" + status_link.rsplit("/", 1)[1])
    assert reference in browser.page_source


# --- every kind of page, at phone and desktop widths --------------------------------------

WIDTHS = (320, 390, 1280)
SCREENSHOT_WIDTHS = (390, 1280)
TAKE_SCREENSHOTS = os.environ.get("CI") != "true" or bool(os.environ.get("SCREENSHOT_DIR"))
# axe's rules do not depend on 70 px of width (names, contrast, structure): it runs at the
# narrowest phone width and at the desktop; overflow and the value widths are measured at all.
AXE_WIDTHS = (320, 1280)
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# WCAG 1.4.10: content reflows at 320 CSS px. A value of a label/value list must keep at
# least this share of a 320 px window (the old grid left it 12–16 px).
MIN_VALUE_WIDTH = 0.4 * 320

_MEASURE = """
const doc = document.documentElement;
const values = [...document.querySelectorAll('.summary-list dd')]
  .filter(dd => dd.getClientRects().length)
  .map(dd => ({text: dd.textContent.trim().slice(0, 40), width: dd.getBoundingClientRect().width}));
return {docWidth: doc.scrollWidth, window: doc.clientWidth, values: values};
"""

_RUN_AXE = """
const done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations']})
  .then(r => done(r.violations.map(v => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' :: ' + n.failureSummary)}))))
  .catch(e => done([{id: 'axe-error', help: String(e), nodes: []}]));
"""


@pytest.fixture
def axe_source() -> str:
    if not AXE_JS.exists():
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"axe-core is required here (REQUIRE_BROWSER=1): run `npm ci` ({AXE_JS})")
        pytest.skip("axe-core is not installed (run `npm ci`)")
    return AXE_JS.read_text(encoding="utf-8")


@pytest.fixture
def js_browser(tmp_path) -> Iterator[webdriver.Chrome]:
    driver = _chrome(tmp_path / "profile-js", javascript=True)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


class PageSurvey:
    """Looks at the current page at every width: document width, summary-list values, axe;
    keeps screenshots. Collects findings instead of stopping at the first."""

    def __init__(self, driver, axe_source: str, folder: Path, widths: tuple[int, ...] = WIDTHS):
        self.driver, self.folder = driver, folder
        self.widths = widths
        self.findings: list[str] = []
        self.seen: list[str] = []
        folder.mkdir(parents=True, exist_ok=True)
        # axe comes with every page the browser loads from now on: sent once, not per page
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": axe_source})

    def _width(self, width: int) -> None:
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
        )

    def _screenshot(self, name: str, width: int) -> None:
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": min(height, 12000), "scale": 1},
            },
        )
        (self.folder / f"{name}-{width}.png").write_bytes(base64.b64decode(shot["data"]))

    def _axe(self, name: str, width: int) -> None:
        for violation in self.driver.execute_async_script(_RUN_AXE, AXE_TAGS):
            self.findings.append(
                f"{name} @{width}: axe {violation['id']} ({violation['impact']}): "
                f"{violation['help']} – {json.dumps(violation['nodes'], ensure_ascii=False)}"
            )

    def check(self, name: str) -> None:
        self.seen.append(name)
        for width in self.widths:
            self._width(width)
            measured = self.driver.execute_script(_MEASURE)
            if measured["docWidth"] > measured["window"]:
                self.findings.append(
                    f"{name} @{width}: document {measured['docWidth']} px wide, "
                    f"window {measured['window']} px"
                )
            for value in measured["values"]:
                if value["width"] < MIN_VALUE_WIDTH:
                    self.findings.append(
                        f"{name} @{width}: summary value {value['text']!r} only "
                        f"{value['width']:.0f} px wide"
                    )
            if width in AXE_WIDTHS:
                self._axe(name, width)
            if TAKE_SCREENSHOTS and width in SCREENSHOT_WIDTHS:
                self._screenshot(name, width)
        self._width(1280)


def _login(driver, base: str, email: str) -> None:
    driver.delete_all_cookies()
    driver.get(base + "/login")
    type_into(driver, "email", email)
    type_into(driver, "password", PASSWORD)
    press_enter_and_wait(driver, 'button[type="submit"].button', EC.url_changes(base + "/login"))


def _submit_button(driver, selector: str, arrived: Callable) -> None:
    driver.find_element(By.CSS_SELECTOR, selector).click()
    WebDriverWait(driver, 20, ignored_exceptions=(WebDriverException,)).until(arrived)


# phone and desktop widths as two tests, so that two test workers share the work
@pytest.mark.parametrize("widths", [(320, 390), (1280,)], ids=["phone", "desktop"])
def test_every_kind_of_page_reflows_and_passes_axe(
    live_server, js_browser, axe_source, make_user, widths
):
    """Landing to review case at 320, 390 and 1280 px: never wider than the window,
    summary-list values at least 40 % of a 320 px window, and no axe violation of WCAG 2.1
    A/AA (at 320 and 1280 px)."""
    driver, base = js_browser, live_server
    survey = PageSurvey(driver, axe_source, SCREENSHOT_DIR, widths)

    # the cases staff and reviewers look at; long German words on purpose
    staff = make_user("staff", email="staff@example.org", name="Petra Schmidt")
    reviewer = make_user("reviewer", email="gutachter@example.org", name="Dr. Jan Weber")
    other_reviewer = make_user("reviewer", email="zweite@example.org", name="Ayşe Demir")
    waiting, _token = create_application(
        org_name="Kreishandwerkerschaftsbildungszentrumsgesellschaft Lüchow-Dannenberg mbH",
        title="Berufsorientierungsveranstaltungsreihe für Ausbildungsplatzsuchende",
    )
    check_eligibility(waiting.id)
    reviews.request_reviews(waiting, [reviewer], staff)
    reviewed = create_reviewed_application(staff, other_reviewer)
    # the conversation: a request for information waiting for its answer, and a message
    asked, asked_token = create_application(title="Qualifizierungsverbund Elbtalaue")
    workflow.apply_transition(
        asked,
        "request_information",
        user=staff,
        reason="Bitte ergänzen Sie den Kostenplan für 2027 und die Zusage des Landkreises.",
        due_date=clock.today() + dt.timedelta(days=14),
    )
    messages.post_from_applicant(asked, "Die Zusage kommt nächste Woche.\nViele Grüße")
    db.session.commit()
    asked_id = asked.id
    failed, retried = db.session.scalars(select(Notification).order_by(Notification.id).limit(2))
    failed.status, failed.attempts = "failed", 5
    failed.last_error = "SMTPRecipientsRefused: 550 mailbox unavailable"
    retried.status, retried.attempts = "pending", 2  # the operations page's waiting emails
    retried.last_error = "SMTP 535 5.7.8 Authentication credentials invalid"
    db.session.commit()
    # Plain values from here on: touching a row again would open a transaction, and SQLite's
    # write lock would keep the server's requests waiting.
    waiting_id, reviewed_id, staff_id = waiting.id, reviewed.id, staff.id
    reject_link = urlsplit(actionlinks.action_url(waiting_id, "reject", staff_id)).path
    staff_email, reviewer_email = staff.email, reviewer.email
    db.session.commit()

    # --- the applicant's side
    driver.get(base + "/")
    survey.check("landing")
    driver.get(base + "/leichte-sprache")
    survey.check("leichte-sprache")
    for path, name in (
        ("/impressum", "impressum"),
        ("/datenschutz", "datenschutz"),
        ("/barrierefreiheit", "barrierefreiheit"),
        ("/gibt-es-nicht", "error-404"),
    ):
        driver.get(base + path)
        survey.check(name)

    driver.get(base + "/antrag")
    survey.check("form-empty")
    _submit_button(
        driver, 'button[value="check"]', EC.presence_of_element_located((By.ID, "error-summary"))
    )
    survey.check("form-errors")
    driver.get(base + "/antrag")
    fill_form_by_script(driver, valid_form_data())
    survey.check("form-filled")
    _submit_button(
        driver,
        'button[value="check"]',
        EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Angaben prüfen"),
    )
    survey.check("check")
    _submit_button(
        driver,
        'button[value="submit"]',
        EC.presence_of_element_located((By.CLASS_NAME, "reference")),
    )
    status_path = (
        "/status/" + driver.find_element(By.CLASS_NAME, "status-link").text.rsplit("/", 1)[1]
    )
    survey.check("confirmation")
    driver.get(base + status_path)
    survey.check("status")
    driver.get(base + status_path + "/zurueckziehen")
    survey.check("withdrawal")
    driver.get(base + f"/status/{asked_token}")
    survey.check("status-request")
    driver.get(base + f"/status/{asked_token}/ergaenzen")
    survey.check("amend")
    driver.get(base + "/statuslink-anfordern")
    survey.check("status-link-request")

    # --- login, then the staff area
    driver.get(base + "/login")
    survey.check("login")
    type_into(driver, "email", "niemand@example.org")
    type_into(driver, "password", "falsch")
    _submit_button(
        driver,
        'main button[type="submit"]',
        EC.presence_of_element_located((By.ID, "error-summary")),
    )
    survey.check("login-failed")
    _login(driver, base, staff_email)
    driver.get(base + "/staff/cases")
    survey.check("staff-cases")
    driver.get(base + f"/staff/cases/{waiting_id}")
    survey.check("staff-case")
    driver.get(base + f"/staff/cases/{asked_id}")
    survey.check("staff-case-conversation")
    driver.get(base + f"/staff/cases/{waiting_id}/action/mark_reviewed")
    survey.check("transition-blocked")
    driver.get(base + f"/staff/cases/{reviewed_id}/action/fund")
    survey.check("transition-fund")
    driver.get(base + f"/staff/cases/{waiting_id}/action/reject")
    _submit_button(
        driver,
        'main button[type="submit"]',
        EC.presence_of_element_located((By.ID, "error-summary")),
    )
    survey.check("transition-errors")
    driver.get(base + reject_link)
    survey.check("action-link")
    driver.get(base + "/staff/budget")
    survey.check("budget")
    driver.get(base + "/staff/operations")
    survey.check("operations")

    # --- the reviewers' area
    _login(driver, base, reviewer_email)
    driver.get(base + "/review/")
    survey.check("review-queue")
    driver.get(base + f"/review/cases/{waiting_id}")
    survey.check("review-case")
    _submit_button(
        driver,
        'form.review-form button[type="submit"]',
        EC.presence_of_element_located((By.ID, "error-summary")),
    )
    survey.check("review-errors")
    driver.get(base + "/staff/cases")
    survey.check("error-403")

    print(f"\nscreenshots of {len(survey.seen)} pages: {SCREENSHOT_DIR}")
    assert not survey.findings, "\n".join(survey.findings)
