"""A person in a real browser: the form filled with the keyboard alone, JavaScript switched off.

Debian's Chromium and ChromeDriver drive it (no tool downloads a browser of its own). Skipped
where they are missing, except in CI (``REQUIRE_BROWSER=1``), where that is an error.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from app.extensions import db
from app.models import Application
from tests.factories import valid_form_data

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


@pytest.fixture
def browser(tmp_path) -> Iterator[webdriver.Chrome]:
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
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1200,1000",
        "--lang=de-DE",
    ):
        options.add_argument(flag)
    # The form must work without JavaScript.
    options.add_experimental_option(
        "prefs",
        {
            "profile.managed_default_content_settings.javascript": 2,
            "intl.accept_languages": "de-DE,de",
        },
    )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
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
