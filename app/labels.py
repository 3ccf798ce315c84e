"""Display labels (German msgids) shared by every page, the emails and the exports."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

STATE_LABELS = {
    "submitted": _l("Eingegangen"),
    "reviewed": _l("Begutachtet"),
    "funded": _l("Bewilligt"),
    "rejected": _l("Abgelehnt"),
    "withdrawn": _l("Zurückgezogen"),
    "info_requested": _l("Rückfrage offen"),
}

OUTCOME_LABELS = {
    "eligible": _l("Förderfähig"),
    "remarks": _l("Förderfähig mit Hinweisen"),
    "not_eligible": _l("Nicht förderfähig"),
}

RULE_OUTCOME_LABELS = {
    "pass": _l("erfüllt"),
    "remark": _l("Hinweis"),
    "fail": _l("nicht erfüllt"),
}

RECOMMENDATION_LABELS = {
    "approve": _l("befürworten"),
    "reject": _l("ablehnen"),
    "abstain": _l("Enthaltung"),
}

SCORE_LABELS = {
    "score_regional": _l("Regionaler Bezug"),
    "score_strategy": _l("Beitrag zur Strategie"),
    "score_feasibility": _l("Umsetzbarkeit"),
    "score_sustainability": _l("Nachhaltigkeit"),
}

ACTION_LABELS = {
    "submit": _l("Einreichen"),
    "mark_reviewed": _l("Als begutachtet markieren"),
    "fund": _l("Bewilligen"),
    "reject": _l("Ablehnen"),
    "reopen": _l("Wieder öffnen"),
    "withdraw": _l("Zurückziehen"),
    "request_information": _l("Rückfrage stellen"),
    "amend": _l("Antrag ergänzen"),
}

EVENT_KIND_LABELS = {
    "transition": _l("Statuswechsel"),
    "override": _l("Prüfergebnis überstimmt"),
    "review": _l("Gutachten erfasst"),
    "review_requested": _l("Gutachten angefragt"),
    "message": _l("Nachricht"),
    "note": _l("Interne Notiz"),
    "review_updated": _l("Gutachten geändert"),
}

ACTOR_LABELS = {"applicant": _l("Antragsteller/in"), "system": _l("System"), "staff": _l("Team")}

# Email kinds (templates email/<kind>.txt and .html), as staff see them in previews and logs.
EMAIL_KIND_LABELS = {
    "receipt": _l("Eingangsbestätigung"),
    "staff_new": _l("Hinweis auf neuen Antrag"),
    "eligibility_result": _l("Ergebnis der Fördervoraussetzungsprüfung"),
    "reviewed": _l("Mitteilung: begutachtet"),
    "funded": _l("Förderzusage"),
    "rejected": _l("Ablehnung"),
    "withdrawn": _l("Hinweis auf Rücknahme"),
    "withdrawal_confirmed": _l("Bestätigung der Rücknahme"),
    "status_link": _l("Neuer Statuslink"),
    "information_requested": _l("Rückfrage an Antragsteller/in"),
    "amended": _l("Hinweis auf Ergänzung"),
    "request_reminder": _l("Erinnerung an Rückfrage"),
    "request_due": _l("Hinweis auf fällige Rückfrage"),
    "message_to_staff": _l("Nachricht der Antragstellerin / des Antragstellers"),
    "message_to_applicant": _l("Nachricht an Antragsteller/in"),
    "draft_saved": _l("Link zum gespeicherten Entwurf"),
    "review_reminder": _l("Erinnerung an Gutachten"),
    "attachment_refused": _l("Anhang abgelehnt"),
    "review_request": _l("Bitte um Gutachten"),
}

NOTIFICATION_STATUS_LABELS = {
    "pending": _l("wartet"),
    "sending": _l("wird gesendet"),
    "sent": _l("gesendet"),
    "failed": _l("fehlgeschlagen"),
}

FIELD_LABELS = {
    "reference": _l("Aktenzeichen"),
    "submitted_at": _l("Eingang"),
    "state": _l("Status"),
    "org_name": _l("Organisation"),
    "legal_form": _l("Rechtsform"),
    "street": _l("Straße und Hausnummer"),
    "postcode": _l("Postleitzahl"),
    "city": _l("Ort"),
    "contact_name": _l("Ansprechperson"),
    "contact_email": _l("E-Mail"),
    "contact_phone": _l("Telefon"),
    "vat_deductible": _l("Vorsteuerabzugsberechtigt"),
    "title": _l("Projekttitel"),
    "summary": _l("Kurzbeschreibung"),
    "description": _l("Projektbeschreibung (Bedarf, Ziele, Maßnahmen, Zeitplan)"),
    "target_groups": _l("Zielgruppen"),
    "project_type": _l("Projektart"),
    "priorities": _l("Handlungsschwerpunkte"),
    "districts": _l("Landkreise"),
    "regional_reference": _l("Regionaler Bezug"),
    "strategy_contribution": _l("Beitrag zur regionalen Strategie"),
    "partners": _l("Kooperationspartner"),
    "start_date": _l("Projektbeginn"),
    "end_date": _l("Projektende"),
    "personnel_costs": _l("Personalausgaben"),
    "other_costs": _l("Sonstige Ausgaben"),
    "total_costs": _l("Gesamtausgaben"),
    "own_funds": _l("Eigenmittel"),
    "third_party_funds": _l("Drittmittel"),
    "requested_grant": _l("Beantragter Zuschuss"),
    "granted_amount": _l("Bewilligter Zuschuss"),
    "eligibility_outcome": _l("Förderfähigkeit"),
    "decl_not_started": _l("Projekt noch nicht begonnen"),
    "decl_subsidy_facts": _l("Subventionserhebliche Tatsachen zur Kenntnis genommen"),
    "decl_privacy": _l("Datenschutzhinweise gelesen"),
    "decl_truthful": _l("Angaben wahrheitsgemäß"),
    "language": _l("Sprache der E-Mails"),
    "attachment": _l("Anlage (PDF)"),
    "round": _l("Förderrunde"),
}

LANGUAGE_LABELS = {"de": _l("Deutsch"), "en": _l("Englisch")}


def district_names(rnd, language: str = "de") -> dict[str, str]:
    """AGS → district name for a round (and its neighbouring alliances), plus "other"."""
    known = rnd.districts + rnd.data.get("neighbour_districts", [])
    names = {d["ags"]: d.get(f"name_{language}") or d["name_de"] for d in known}
    names["other"] = str(_l("Andere Region"))
    return names


def priority_names(rnd) -> dict[str, str]:
    return {
        item["code"]: f"{item['code']} {item['name_de']}"
        for group in rnd.priorities
        for item in group["items"]
    }


def project_type_names(rnd) -> dict[str, str]:
    return {t["code"]: t.get("name_de", t["code"]) for t in rnd.project_types}


LEGAL_FORM_LABELS = {
    "gmbh": _l("GmbH"),
    "ggmbh": _l("gGmbH"),
    "ag": _l("AG"),
    "eg": _l("eingetragene Genossenschaft (eG)"),
    "ev": _l("eingetragener Verein (e. V.)"),
    "stiftung": _l("Stiftung"),
    "oeffentlich": _l(
        "Öffentliche Einrichtung (Kommune, Kammer, Hochschule, Körperschaft des öffentlichen "
        "Rechts)"
    ),
    "personengesellschaft": _l("Personengesellschaft (z. B. GbR, OHG, KG)"),
    "sonstige_jp": _l("Sonstige juristische Person"),
    "natuerliche_person": _l("Natürliche Person / Einzelunternehmen"),
}
