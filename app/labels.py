"""Display labels (German msgids) shared by every page, the emails and the exports."""

from __future__ import annotations

import functools

from flask_babel import force_locale
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

ROLE_LABELS = {
    "staff": _l("Geschäftsstelle"),
    "reviewer": _l("Gutachterin / Gutachter"),
    "admin": _l("Administratorin / Administrator"),
}

ACCOUNT_EVENT_LABELS = {
    "created": _l("Konto angelegt"),
    "role_changed": _l("Rolle geändert"),
    "deactivated": _l("Konto gesperrt"),
    "activated": _l("Konto entsperrt"),
    "two_factor_enabled": _l("Zwei-Faktor-Anmeldung eingerichtet"),
    "two_factor_reset": _l("Zwei-Faktor-Anmeldung zurückgesetzt"),
    "recovery_code_used": _l("Wiederherstellungscode verwendet"),
    "password_reset_requested": _l("Link für neues Passwort angefordert"),
    "password_reset": _l("Neues Passwort gesetzt"),
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
    # steps offered by email links (app.cases.actionlinks)
    "request_reviews": _l("Gutachten anfordern"),
    "open": _l("Fall öffnen"),
    "request_information": _l("Rückfrage stellen"),
    "amend": _l("Antrag ergänzen"),
}

EVENT_KIND_LABELS = {
    "transition": _l("Statuswechsel"),
    "override": _l("Prüfergebnis überstimmt"),
    "review": _l("Gutachten erfasst"),
    "review_requested": _l("Gutachten angefragt"),
    "check_rerun": _l("Prüfung erneut ausgeführt"),
    "anonymised": _l("Personenbezogene Daten gelöscht (Speicherfrist abgelaufen)"),
    "erased": _l("Personenbezogene Daten vorzeitig gelöscht"),
    "data_export": _l("Auskunft nach Art. 15 DSGVO heruntergeladen"),
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
    "review_recorded": _l("Hinweis auf neues Gutachten"),
    "reviews_complete": _l("Hinweis: alle Gutachten liegen vor"),
    "review_conflict": _l("Hinweis auf Interessenkonflikt"),
    "email_failed": _l("Warnung: E-Mail fehlgeschlagen"),
    "job_failed": _l("Warnung: Hintergrundaufgabe fehlgeschlagen"),
    "staff_digest": _l("Tageszusammenfassung"),
}

# How a staff member hears of events (app.cases.notices).
DELIVERY_MODE_LABELS = {
    "immediate": _l("Sofort: eine E-Mail je Ereignis"),
    "digest": _l("Einmal täglich: eine Zusammenfassung"),
}

# Background jobs (names registered with app.jobs.job), as the operations page shows them.
JOB_LABELS = {
    "check_eligibility": _l("Förderfähigkeitsprüfung"),
    "send_notification": _l("E-Mail-Versand"),
}

NOTIFICATION_STATUS_LABELS = {
    "pending": _l("wartet"),
    "sending": _l("wird gesendet"),
    "sent": _l("gesendet"),
    "failed": _l("fehlgeschlagen"),
}

# Why an email failed or waits where the message or the setting is at fault, not the
# server's answer. app.mail.delivery stores the German text at the start of ``last_error``
# (whoever reads it later); the ``delivery_error`` filter shows it in the reader's language.
DELIVERY_ERROR_LABELS = {
    "header": _l("Ungültige Kopfzeile (Zeilenumbruch im Betreff oder in einer Adresse)"),
    "tls": _l(
        "Das Zertifikat des Mailservers ließ sich nicht bestätigen (abgelaufen, auf einen "
        "anderen Namen oder von einer unbekannten Stelle ausgestellt)"
    ),
}


@functools.cache
def delivery_error_in_german(key: str) -> str:
    """``DELIVERY_ERROR_LABELS[key]`` as ``last_error`` stores it: German, whatever language
    is active now (the reader's page translates it again). Built once per process, as the
    filter asks for it on every row of a page."""
    with force_locale("de"):
        return str(DELIVERY_ERROR_LABELS[key])


FIELD_LABELS = {
    "id": _l("Interne Nummer"),
    "round_id": _l("Interne Nummer der Förderrunde"),
    "updated_at": _l("Zuletzt geändert"),
    "attachment_original_name": _l("Dateiname der Anlage"),
    "attachment_size": _l("Größe der Anlage (Bytes)"),
    "anonymised_at": _l("Personenbezogene Daten gelöscht am"),
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
    "signatory_name": _l("Zeichnungsberechtigte Person"),
    "signatory_function": _l("Funktion der zeichnungsberechtigten Person"),
    "register_court": _l("Registergericht"),
    "register_number": _l("Registernummer"),
    "site_in_lower_saxony": _l("Sitz oder Niederlassung in Niedersachsen"),
    "cost_plan": _l("Kostenplan nach Jahren"),
    "personnel_positions": _l("Personalstellen"),
    "de_minimis_undertaking": _l("Unternehmen im Sinne des Beihilferechts"),
    "de_minimis_received": _l("De-minimis-Beihilfen der letzten drei Jahre"),
    "overrides": _l("Überstimmte Prüfregeln"),
    "language": _l("Sprache der E-Mails"),
    "attachment": _l("Anlage (PDF)"),
    "round": _l("Förderrunde"),
}

LANGUAGE_LABELS = {"de": _l("Deutsch"), "en": _l("Englisch")}

YES_NO_LABELS = {True: _l("ja"), False: _l("nein")}


def _name(row: dict, language: str) -> str:
    """A round-file entry's ``name_<language>``, or its German name if it has none."""
    return row.get(f"name_{language}") or row["name_de"]


def district_names(rnd, language: str = "de") -> dict[str, str]:
    """AGS → district name for a round (and its neighbouring alliances), plus "other"."""
    known = rnd.districts + rnd.data.get("neighbour_districts", [])
    names = {d["ags"]: _name(d, language) for d in known}
    names["other"] = str(_l("Andere Region"))
    return names


def priority_names(rnd, language: str = "de") -> dict[str, str]:
    """Code → "code name" of a round's priorities, in ``language``."""
    return {
        item["code"]: f"{item['code']} {_name(item, language)}"
        for group in rnd.priorities
        for item in group["items"]
    }


def project_type_names(rnd, language: str = "de") -> dict[str, str]:
    """Code → name of a round's project types, in ``language``."""
    return {t["code"]: _name(t, language) for t in rnd.project_types}


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


# Short names of the eligibility rules (staff pages, emails, the pre-check).
RULE_LABELS = {
    "region": _l("Förderregion"),
    "applicant_type": _l("Antragsberechtigung"),
    "site_lower_saxony": _l("Sitz in Niedersachsen"),
    "priority": _l("Handlungsschwerpunkt"),
    "funding_rate": _l("Förderquote"),
    "financing": _l("Ausgeglichene Finanzierung"),
    "co_financing": _l("Kofinanzierung"),
    "other_costs_flat_rate": _l("Sachausgabenpauschale"),
    "cost_plan": _l("Kostenplan nach Jahren"),
    "de_minimis": _l("De-minimis-Obergrenze"),
    "period": _l("Projektzeitraum"),
    "duration": _l("Laufzeit"),
    "amount_limits": _l("Kostengrenzen"),
    "budget": _l("Verfügbare Mittel"),
    "declarations": _l("Erklärungen"),
    "duplicate": _l("Doppelantrag"),
    "regional_reference": _l("Regionalbezug"),
}

# The declarations as the applicant confirms them on the form; their short names (staff
# pages, exports, the eligibility messages) are the FIELD_LABELS of the same keys.
DECLARATION_TEXTS = {
    "decl_not_started": _l("Ich erkläre, dass mit dem Projekt noch nicht begonnen wurde."),
    "decl_subsidy_facts": _l(
        "Mir ist bekannt, dass die Angaben in diesem Antrag subventionserheblich im Sinne "
        "von § 264 StGB sind."
    ),
    "decl_privacy": _l("Ich habe die Datenschutzhinweise (Art. 13 DSGVO) gelesen."),
    "decl_truthful": _l("Ich versichere, dass alle Angaben vollständig und wahr sind."),
}
