"""The application form as a person fills it in, and reading hidden fields back from a page.
No app imports: the load test (locust, under gevent) uses this module too.
"""

from __future__ import annotations

import datetime as dt
import re
from html import unescape
from typing import Any


def _cost_plan(start: dt.date, end: dt.date) -> dict[str, str]:
    """Personnel 80.000 € and other 20.000 € over the project's calendar years."""
    years = list(range(start.year, end.year + 1))
    rows: dict[str, str] = {}
    for index, year in enumerate(years):
        last = index == len(years) - 1
        rows[f"cost_plan-{index}-year"] = str(year)
        rows[f"cost_plan-{index}-personnel_costs"] = "0" if not last else "80.000"
        rows[f"cost_plan-{index}-other_costs"] = "0" if not last else "20.000"
    return rows


def form_data(i: int = 0, **overrides: Any) -> dict[str, Any]:
    """POST data for /antrag that passes validation in the open round (NON-2025)."""
    today = dt.date.today()
    start, end = today + dt.timedelta(days=60), today + dt.timedelta(days=360)
    data: dict[str, Any] = {
        "org_name": f"Träger {i} gGmbH",
        "legal_form": "ggmbh",
        "street": "Am Sande 1",
        "postcode": "21335",
        "city": "Lüneburg",
        "contact_name": "Erika Mustermann",
        "contact_email": f"traeger{i}@example.org",
        "contact_phone": "04131 123456",
        "vat_deductible": "n",
        "signatory_name": "Erika Mustermann",
        "signatory_function": "Geschäftsführerin",
        "register_court": "Amtsgericht Lüneburg",
        "register_number": f"HRB {1000 + i}",
        "site_in_lower_saxony": "y",
        "title": f"Bench-Projekt {i}",
        "summary": "Wir qualifizieren Quereinsteigerinnen für die Pflege.",
        "description": "Ausgangslage, Ziele, Maßnahmen und Zeitplan des Projekts.",
        "target_groups": "Quereinsteigerinnen und Quereinsteiger, 40 Personen",
        "project_type": "struktur",
        "priorities": ["1.1", "2.1"],
        "districts": ["03358", "03355"],
        "regional_reference": (
            "Das Projekt findet im Heidekreis und im Landkreis Lüneburg statt. Dort fehlen "
            "Pflegefachkräfte besonders stark; die Pflegeheime der Region haben offene Stellen, "
            "die seit über einem Jahr nicht besetzt werden können."
        ),
        "strategy_contribution": "Das Projekt setzt Ziel 2.1 der regionalen Strategie um.",
        "partners": "Pflegeheim Soltau gGmbH",
        "start_date": start.strftime("%d.%m.%Y"),
        "end_date": end.strftime("%d.%m.%Y"),
        "personnel_costs": "80.000,00",
        "other_costs": "20.000",
        "own_funds": "20.000",
        "third_party_funds": "10.000,00",
        "requested_grant": "70.000 €",
        **_cost_plan(start, end),
        "personnel_positions-0-role": "Projektleitung",
        "personnel_positions-0-months": "10",
        "personnel_positions-0-fte_percent": "50",
        "personnel_positions-0-cost": "30.000",
        "personnel_positions-1-role": "Pflegepädagogin",
        "personnel_positions-1-months": "10",
        "personnel_positions-1-fte_percent": "100",
        "personnel_positions-1-cost": "50.000",
        "de_minimis_undertaking": "n",
        "decl_not_started": "y",
        "decl_subsidy_facts": "y",
        "decl_privacy": "y",
        "decl_truthful": "y",
        "language": "en" if i % 5 == 0 else "de",
    }
    data.update(overrides)
    return data


_INPUT = re.compile(r"<input\b([^>]*)>")
_ATTRIBUTE = re.compile(r'([\w-]+)="([^"]*)"')


def hidden_fields(html: str) -> list[tuple[str, str]]:
    """(name, value) of each hidden input, in page order. Regular expressions rather than an
    HTML parser: the load runs on the server's two cores, and the client should take as
    little of them as it can (our own templates always quote attribute values)."""
    fields = []
    for tag in _INPUT.finditer(html):
        attributes = dict(_ATTRIBUTE.findall(tag.group(1)))
        if attributes.get("type") == "hidden" and attributes.get("name"):
            fields.append((attributes["name"], unescape(attributes.get("value", ""))))
    return fields


REFERENCE = re.compile(r"NON-\d{4}-\d{4}")
