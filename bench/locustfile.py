"""Load test users for locust (run by bench/load.py, headless, against 127.0.0.1 only).

Applicants submit the form (four requests, as a browser does); staff log in and open the
case list (with filters and a search) and case pages; reviewers open their list and cases.
Every response is checked, so a wrong page counts as an error, not only a 5xx.
"""

from __future__ import annotations

import os
import random
import re
from itertools import count

from locust import HttpUser, between, task

from bench.forms import REFERENCE, form_data, hidden_fields

PASSWORD = os.environ["LOAD_PASSWORD"]
_numbers = count(10_000 * os.getpid())
CASE_LINK = re.compile(r"/staff/cases/(\d+)\"")
REVIEW_LINK = re.compile(r"/review/cases/(\d+)\"")


def _login(user: HttpUser, email: str) -> None:
    page = user.client.get("/login", name="/login").text
    token = dict(hidden_fields(page))["csrf_token"]
    with user.client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token},
        name="/login (POST)",
        allow_redirects=False,
        catch_response=True,
    ) as response:
        if response.status_code != 302:
            response.failure(f"login: {response.status_code}")


class Applicant(HttpUser):
    weight = 3
    wait_time = between(1, 3)

    @task
    def submit(self) -> None:
        html = self.client.get("/antrag", name="/antrag (form)").text
        tokens = dict(hidden_fields(html))
        fields = {**form_data(next(_numbers)), "action": "check"}
        fields.update(csrf_token=tokens["csrf_token"], started=tokens["started"])
        with self.client.post(
            "/antrag", data=fields, name="/antrag (check page)", catch_response=True
        ) as check:
            if check.status_code != 200 or "Angaben prüfen" not in check.text:
                check.failure(f"check page: {check.status_code}")
                return
        again = [*hidden_fields(check.text), ("action", "submit")]
        with self.client.post(
            "/antrag", data=again, name="/antrag (submit → confirmation)", catch_response=True
        ) as done:
            if done.status_code != 200 or not REFERENCE.search(done.text):
                done.failure(f"submit: {done.status_code}")


class Staff(HttpUser):
    weight = 2
    wait_time = between(1, 3)

    def on_start(self) -> None:
        _login(self, "staff@example.org")
        self.case_ids: list[str] = []

    @task(3)
    def case_list(self) -> None:
        url = random.choice(
            [
                "/staff/cases",
                "/staff/cases?state=submitted&district=03358",
                "/staff/cases?sort=amount&dir=asc",
                "/staff/cases?q=tr%C3%A4ger+1",
            ]
        )
        with self.client.get(url, name="/staff/cases", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"list: {response.status_code}")
                return
            self.case_ids = CASE_LINK.findall(response.text) or self.case_ids

    @task(2)
    def case_page(self) -> None:
        if not self.case_ids:
            return self.case_list()
        case_id = random.choice(self.case_ids)
        self.client.get(f"/staff/cases/{case_id}", name="/staff/cases/<id>")


class Reviewer(HttpUser):
    weight = 1
    wait_time = between(1, 3)

    def on_start(self) -> None:
        _login(self, "reviewer@example.org")
        self.case_ids: list[str] = []

    @task
    def review_list(self) -> None:
        response = self.client.get("/review/", name="/review/")
        self.case_ids = REVIEW_LINK.findall(response.text) or self.case_ids

    @task
    def review_case(self) -> None:
        if not self.case_ids:
            return self.review_list()
        self.client.get(f"/review/cases/{random.choice(self.case_ids)}", name="/review/cases/<id>")
