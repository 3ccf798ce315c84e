"""The public application form: every field of DESIGN.md's data list, validated on the server.

Money is accepted as Germans type it (``12.500,50``, ``12500``, ``12 500 €``) and becomes
integer cents; dates as ``TT.MM.JJJJ`` or the browser's ISO date. Choices that depend on the
funding round (districts, priorities, project types) are set per request from the round.
"""

from __future__ import annotations

import re
from typing import ClassVar

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    HiddenField,
    RadioField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    Optional,
    ValidationError,
)

from app import funding
from app.formatting import localized
from app.labels import LEGAL_FORM_LABELS
from app.models import DECLARATIONS, MONEY_FIELDS, FundingRound
from app.web.fields import GermanDateField, MoneyField, MultiCheckboxField, Present, choices


def _email(form, field):
    try:
        result = validate_email(field.data or "", check_deliverability=False)
    except EmailNotValidError:
        raise ValidationError(
            _l("Bitte geben Sie eine gültige E-Mail-Adresse ein, z. B. name@beispiel.de.")
        ) from None
    field.data = result.normalized


def _postcode(form, field):
    if not re.fullmatch(r"\d{5}", field.data or ""):
        raise ValidationError(_l("Bitte geben Sie eine fünfstellige Postleitzahl ein."))


def _phone(form, field):
    if field.data and not re.fullmatch(r"[0-9+()/ \-.]{3,40}", field.data):
        raise ValidationError(
            _l("Bitte geben Sie eine Telefonnummer nur mit Ziffern, Leerzeichen und + ( ) / - ein.")
        )


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _strip(value):
    """Trim, and drop control characters (NUL cannot be stored in PostgreSQL text)."""
    return _CONTROL.sub("", value).strip() if isinstance(value, str) else value


def _required(message=None):
    return DataRequired(message=message or _l("Bitte füllen Sie dieses Feld aus."))


def _money(label, description, required=True):
    validators = (
        [Present(_l("Bitte geben Sie einen Betrag ein (0 ist erlaubt)."))]
        if required
        else [Optional()]
    )
    return MoneyField(label, validators=validators, description=description)


def _text(label, max_length, description="", required=True, area=False):
    validators = [
        _required() if required else Optional(),
        Length(
            max=max_length,
            message=_l("Bitte kürzen Sie den Text auf höchstens %(max)d Zeichen."),
        ),
    ]
    cls = TextAreaField if area else StringField
    return cls(label, validators=validators, description=description, filters=[_strip])


class ApplicationForm(FlaskForm):
    """One form for entry, the check page (hidden re-post) and the final submit."""

    # applicant
    org_name = _text(_l("Name der Organisation"), 200)
    legal_form = RadioField(
        _l("Rechtsform"),
        choices=choices(LEGAL_FORM_LABELS.items()),
        validators=[InputRequired(message=_l("Bitte wählen Sie die Rechtsform aus."))],
    )
    street = _text(_l("Straße und Hausnummer"), 200)
    postcode = StringField(
        _l("Postleitzahl"), validators=[_required(), _postcode], filters=[_strip]
    )
    city = _text(_l("Ort"), 100)
    contact_name = _text(_l("Ansprechperson"), 200, _l("Vor- und Nachname"))
    contact_email = StringField(
        _l("E-Mail-Adresse der Ansprechperson"),
        validators=[_required(), Length(max=254), _email],
        filters=[_strip],
        description=_l("An diese Adresse senden wir die Eingangsbestätigung und alle Nachrichten."),
    )
    contact_phone = StringField(_l("Telefon"), validators=[Optional(), _phone], filters=[_strip])
    vat_deductible = RadioField(
        _l("Ist Ihre Organisation zum Vorsteuerabzug berechtigt?"),
        choices=choices([("y", _l("Ja")), ("n", _l("Nein"))]),
        validators=[InputRequired(message=_l("Bitte beantworten Sie diese Frage."))],
        description=_l("Wenn ja, geben Sie alle Beträge netto (ohne Umsatzsteuer) an."),
    )

    # project
    title = _text(_l("Projekttitel"), 200)
    summary = _text(
        _l("Kurzbeschreibung"), 1500, _l("Worum geht es in zwei bis drei Sätzen?"), area=True
    )
    description = _text(
        _l("Projektbeschreibung"),
        20000,
        _l("Ausgangslage und Bedarf, Ziele, Maßnahmen und Zeitplan."),
        area=True,
    )
    target_groups = _text(
        _l("Zielgruppen"), 3000, _l("Wen erreicht das Projekt, und wie viele Personen?"), area=True
    )
    project_type = RadioField(_l("Projektart"), choices=[], validate_choice=True)
    priorities = MultiCheckboxField(
        _l("Handlungsschwerpunkte"),
        choices=[],
        description=_l(
            "Welchen Schwerpunkten der Allianz dient das Projekt? Mehrfachauswahl möglich."
        ),
    )
    districts = MultiCheckboxField(
        _l("Landkreise, in denen das Projekt wirkt"),
        choices=[],
        validators=[DataRequired(message=_l("Bitte wählen Sie mindestens einen Landkreis aus."))],
        description=_l("Mehrfachauswahl möglich."),
    )
    regional_reference = _text(
        _l("Regionalbezug"),
        5000,
        _l("Warum ist das Projekt für Nordostniedersachsen wichtig, und wo findet es statt?"),
        area=True,
    )
    strategy_contribution = _text(_l("Beitrag zur regionalen Fachkräftestrategie"), 5000, area=True)
    partners = _text(
        _l("Kooperationspartner"),
        3000,
        _l("Optional: Partner und ihre Rolle."),
        required=False,
        area=True,
    )
    start_date = GermanDateField(
        _l("Projektbeginn"),
        validators=[Present(_l("Bitte geben Sie ein Datum ein."))],
        description=_l("TT.MM.JJJJ – das Projekt darf noch nicht begonnen haben."),
    )
    end_date = GermanDateField(
        _l("Projektende"),
        validators=[Present(_l("Bitte geben Sie ein Datum ein."))],
        description=_l("TT.MM.JJJJ"),
    )

    # finances
    personnel_costs = _money(_l("Personalausgaben"), _l("in Euro, z. B. 45.000,00"))
    other_costs = _money(_l("Sonstige Ausgaben"), _l("Sachausgaben, Reisekosten usw., in Euro"))
    own_funds = _money(_l("Eigenmittel"), _l("in Euro"))
    third_party_funds = _money(_l("Drittmittel"), _l("Mittel Dritter, z. B. Kommunen, in Euro"))
    requested_grant = _money(_l("Beantragter Zuschuss"), _l("in Euro"))

    # declarations
    decl_not_started = BooleanField(
        _l("Ich erkläre, dass mit dem Projekt noch nicht begonnen wurde."),
        validators=[DataRequired(message=_l("Bitte bestätigen Sie diese Erklärung."))],
    )
    decl_subsidy_facts = BooleanField(
        _l(
            "Mir ist bekannt, dass die Angaben in diesem Antrag subventionserheblich im Sinne "
            "von § 264 StGB sind."
        ),
        validators=[DataRequired(message=_l("Bitte bestätigen Sie diese Erklärung."))],
    )
    decl_privacy = BooleanField(
        _l("Ich habe die Datenschutzhinweise (Art. 13 DSGVO) gelesen."),
        validators=[DataRequired(message=_l("Bitte bestätigen Sie diese Erklärung."))],
    )
    decl_truthful = BooleanField(
        _l("Ich versichere, dass alle Angaben vollständig und wahr sind."),
        validators=[DataRequired(message=_l("Bitte bestätigen Sie diese Erklärung."))],
    )

    language = RadioField(
        _l("Sprache unserer E-Mails an Sie"),
        choices=choices([("de", "Deutsch"), ("en", "English")]),
        default="de",
        validators=[InputRequired(message=_l("Bitte wählen Sie eine Sprache."))],
    )
    attachment = FileField(
        _l("Projektbeschreibung als PDF (optional)"),
        description=_l("Nur PDF-Dateien, höchstens 10 MB."),
    )
    # signed reference to an attachment uploaded in an earlier step of this form
    attachment_ref = HiddenField()
    attachment_remove = BooleanField(_l("Hochgeladene Datei entfernen"))

    # bot protection: a field people never see, and a signed start time
    website = StringField(_l("Bitte dieses Feld leer lassen"))
    started = HiddenField()

    SECTIONS: ClassVar[dict[str, tuple[str, ...]]] = {
        "applicant": (
            "org_name",
            "legal_form",
            "street",
            "postcode",
            "city",
            "contact_name",
            "contact_email",
            "contact_phone",
            "vat_deductible",
        ),
        "project": (
            "title",
            "summary",
            "description",
            "target_groups",
            "project_type",
            "priorities",
            "districts",
            "regional_reference",
            "strategy_contribution",
            "partners",
            "start_date",
            "end_date",
        ),
        "finances": MONEY_FIELDS,
        "declarations": DECLARATIONS,
    }

    def configure_for(self, funding_round: FundingRound) -> None:
        """Set the round's choices; the project type is required only where a round has types."""
        # Neighbouring alliances' districts are offered too, so the check can point such
        # applicants to the right alliance instead of just refusing them.
        neighbours = funding_round.data.get("neighbour_districts", [])
        self.districts.choices = choices(
            [(d["ags"], localized(d)) for d in funding_round.districts]
            + [(d["ags"], f"{localized(d)} ({localized(d, 'alliance')})") for d in neighbours]
            + [("other", _l("anderer Landkreis / außerhalb der Region"))]
        )
        self.priorities.choices = choices(
            (item["code"], f"{item['code']} {localized(item)}")
            for group in funding_round.priorities
            for item in group["items"]
        )
        types = funding_round.project_types
        self.project_type.choices = choices((t["code"], localized(t)) for t in types)
        if types:
            self.project_type.validators = [
                InputRequired(message=_l("Bitte wählen Sie die Projektart aus."))
            ]
            self.project_type.flags.required = True
        else:
            self.project_type.validators = [Optional()]
            self.project_type.validate_choice = False

    def validate_end_date(self, field):
        if self.start_date.data and field.data and field.data <= self.start_date.data:
            raise ValidationError(_l("Das Projektende muss nach dem Projektbeginn liegen."))

    def validate_requested_grant(self, field):
        total = self.total_costs
        if total is None or field.data is None:
            return
        if total <= 0:
            raise ValidationError(_l("Bitte geben Sie die Ausgaben des Projekts an."))
        if field.data <= 0:
            raise ValidationError(_l("Bitte geben Sie den beantragten Zuschuss an."))
        if field.data > total:
            raise ValidationError(_l("Der Zuschuss kann nicht höher sein als die Gesamtausgaben."))

    def chosen_labels(self, name: str) -> list[str]:
        """Labels of the chosen option(s) of a choice field, for the check page."""
        field = self[name]
        chosen = field.data if isinstance(field.data, list) else [field.data]
        labels = {choice.value: choice.label for choice in field.choices}
        return [str(labels[value]) for value in chosen if value in labels]

    @property
    def total_costs(self) -> int | None:
        personnel, other = self.personnel_costs.data, self.other_costs.data
        if personnel is None or other is None:
            return None
        return funding.total_costs(personnel, other)

    def application_fields(self) -> dict:
        """The validated values under DESIGN.md's names, ready for the model."""
        names = [n for section in self.SECTIONS.values() for n in section]
        values = {name: self[name].data for name in names}
        values["vat_deductible"] = self.vat_deductible.data == "y"
        values["project_type"] = self.project_type.data or None
        values["contact_phone"] = self.contact_phone.data or None
        values["partners"] = self.partners.data or None
        values["language"] = self.language.data
        values["districts"] = list(dict.fromkeys(self.districts.data))
        values["priorities"] = list(dict.fromkeys(self.priorities.data))
        return values


class StatusLinkForm(FlaskForm):
    """Ask for a lost status link again: reference number and contact address."""

    reference = StringField(
        _l("Aktenzeichen"),
        validators=[_required(), Length(max=16)],
        filters=[_strip],
        description=_l("Steht in Ihrer Eingangsbestätigung, z. B. NON-2026-0042."),
    )
    contact_email = StringField(
        _l("E-Mail-Adresse der Ansprechperson"),
        validators=[_required(), Length(max=254), _email],
        filters=[_strip],
        description=_l("Die Adresse, die im Antrag angegeben ist."),
    )


class MessageForm(FlaskForm):
    """A message from the applicant to the staff, on the status page."""

    body = TextAreaField(
        _l("Ihre Nachricht an die Geschäftsstelle"),
        validators=[_required(_l("Bitte schreiben Sie eine Nachricht.")), Length(max=5000)],
        filters=[_strip],
    )
