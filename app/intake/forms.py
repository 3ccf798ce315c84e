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
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    RadioField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from app import formatting, funding
from app.formatting import localized
from app.labels import DECLARATION_TEXTS, LEGAL_FORM_LABELS
from app.models import (
    APPLICATION_SECTIONS,
    LEGAL_FORMS_WITH_REGISTER,
    FundingRound,
)
from app.web.fields import (
    GermanDateField,
    MoneyField,
    MultiCheckboxField,
    Present,
    choices,
    multi_line,
    one_line,
)


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


def _required(message=None):
    return DataRequired(message=message or _l("Bitte füllen Sie dieses Feld aus."))


def _money(label, description, required=True):
    validators = (
        [Present(_l("Bitte geben Sie einen Betrag ein (0 ist erlaubt)."))]
        if required
        else [Optional()]
    )
    return MoneyField(label, validators=validators, description=description)


_TOO_LONG = _l("Bitte kürzen Sie den Text auf höchstens %(max)d Zeichen.")


def _text(label, max_length, description="", required=True, area=False):
    validators = [
        _required() if required else Optional(),
        Length(max=max_length, message=_TOO_LONG),
    ]
    if area:
        return TextAreaField(
            label, validators=validators, description=description, filters=[multi_line]
        )
    return StringField(label, validators=validators, description=description, filters=[one_line])


def _yes_no(label, description=""):
    return RadioField(
        label,
        choices=choices([("y", _l("Ja")), ("n", _l("Nein"))]),
        validators=[InputRequired(message=_l("Bitte beantworten Sie diese Frage."))],
        description=description,
    )


def _blank(entry: Form) -> bool:
    """A row of a table left empty: it is ignored."""
    return all(not (f.raw_data and f.raw_data[0].strip()) for f in entry)


class CostYearForm(Form):
    """One calendar year of the cost plan (a row of the table; empty rows are ignored)."""

    year = IntegerField(
        _l("Jahr"),
        validators=[
            Optional(),
            NumberRange(
                min=2000, max=2100, message=_l("Bitte geben Sie ein Jahr ein, z. B. 2026.")
            ),
        ],
    )
    personnel_costs = MoneyField(_l("Personalausgaben im Jahr"), validators=[Optional()])
    other_costs = MoneyField(_l("Sachausgaben im Jahr"), validators=[Optional()])


class PositionForm(Form):
    """One personnel position paid from the project (a row; empty rows are ignored)."""

    role = StringField(_l("Funktion"), validators=[Optional(), Length(max=200)], filters=[one_line])
    months = IntegerField(
        _l("Monate"),
        validators=[
            Optional(),
            NumberRange(min=1, max=120, message=_l("Bitte geben Sie 1 bis 120 Monate an.")),
        ],
    )
    fte_percent = IntegerField(
        _l("Stellenanteil in Prozent"),
        validators=[
            Optional(),
            NumberRange(min=1, max=100, message=_l("Bitte geben Sie 1 bis 100 Prozent an.")),
        ],
    )
    cost = MoneyField(_l("Personalausgaben der Stelle"), validators=[Optional()])


COST_PLAN_ROWS = 5  # a 36-month project touches at most four calendar years; one spare
POSITION_ROWS = 4


class ApplicationForm(FlaskForm):
    """One form for entry, the check page (hidden re-post) and the final submit."""

    attachment_ref = HiddenField()
    # bot protection: a field people never see, and a signed start time
    website = StringField(_l("Bitte dieses Feld leer lassen"))
    started = HiddenField()

    # applicant
    org_name = _text(_l("Name der Organisation"), 200)
    legal_form = RadioField(
        _l("Rechtsform"),
        choices=choices(LEGAL_FORM_LABELS.items()),
        validators=[InputRequired(message=_l("Bitte wählen Sie die Rechtsform aus."))],
    )
    street = _text(_l("Straße und Hausnummer"), 200)
    postcode = StringField(
        _l("Postleitzahl"), validators=[_required(), _postcode], filters=[one_line]
    )
    city = _text(_l("Ort"), 100)
    contact_name = _text(_l("Ansprechperson"), 200, _l("Vor- und Nachname"))
    contact_email = StringField(
        _l("E-Mail-Adresse der Ansprechperson"),
        validators=[_required(), Length(max=254), _email],
        filters=[one_line],
        description=_l("An diese Adresse senden wir die Eingangsbestätigung und alle Nachrichten."),
    )
    contact_phone = StringField(_l("Telefon"), validators=[Optional(), _phone], filters=[one_line])
    vat_deductible = _yes_no(
        _l("Ist Ihre Organisation zum Vorsteuerabzug berechtigt?"),
        _l("Wenn ja, geben Sie alle Beträge netto (ohne Umsatzsteuer) an."),
    )
    signatory_name = _text(
        _l("Zeichnungsberechtigte Person"),
        200,
        _l("Wer darf für die Organisation rechtsverbindlich unterschreiben? Vor- und Nachname"),
    )
    signatory_function = _text(
        _l("Funktion der zeichnungsberechtigten Person"), 200, _l("z. B. Geschäftsführerin")
    )
    # no Optional(): it would stop the chain before validate_register_number sees the blank
    register_court = StringField(
        _l("Registergericht"),
        validators=[Length(max=100, message=_TOO_LONG)],
        filters=[one_line],
        description=_l("Das Amtsgericht des Registers (bei GmbH, gGmbH, AG, eG und e. V.)"),
    )
    register_number = StringField(
        _l("Registernummer"),
        validators=[Length(max=50, message=_TOO_LONG)],
        filters=[one_line],
        description=_l("z. B. HRB 12345 oder VR 678"),
    )
    site_in_lower_saxony = _yes_no(
        _l("Hat Ihre Organisation ihren Sitz oder eine Niederlassung in Niedersachsen?"),
        _l(
            "Antragsberechtigt sind nur Antragsteller mit Sitz oder Niederlassung in Niedersachsen."
        ),
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
    cost_plan = FieldList(
        FormField(CostYearForm), min_entries=COST_PLAN_ROWS, max_entries=COST_PLAN_ROWS
    )
    personnel_positions = FieldList(
        FormField(PositionForm), min_entries=POSITION_ROWS, max_entries=POSITION_ROWS
    )
    de_minimis_undertaking = _yes_no(
        _l("Ist Ihre Organisation ein Unternehmen, das wirtschaftlich tätig ist?"),
        _l(
            "Im Sinne des EU-Beihilferechts: wer Waren oder Dienstleistungen am Markt anbietet, "
            "gleich in welcher Rechtsform."
        ),
    )
    de_minimis_received = _money(
        _l("De-minimis-Beihilfen der letzten drei Jahre"),
        _l(
            "Summe aller De-minimis-Beihilfen, die Ihre Organisation in den letzten drei Jahren "
            "erhalten hat, in Euro (0, wenn keine)."
        ),
        required=False,
    )

    # declarations
    decl_not_started = BooleanField(
        DECLARATION_TEXTS["decl_not_started"],
        validators=[DataRequired(message=_l("Bitte bestätigen Sie diese Erklärung."))],
    )
    decl_subsidy_facts = BooleanField(
        DECLARATION_TEXTS["decl_subsidy_facts"],
        validators=[DataRequired(message=_l("Bitte bestätigen Sie diese Erklärung."))],
    )
    decl_privacy = BooleanField(
        DECLARATION_TEXTS["decl_privacy"],
        validators=[DataRequired(message=_l("Bitte bestätigen Sie diese Erklärung."))],
    )
    decl_truthful = BooleanField(
        DECLARATION_TEXTS["decl_truthful"],
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
    attachment_remove = BooleanField(_l("Hochgeladene Datei entfernen"))

    SECTIONS: ClassVar[dict[str, tuple[str, ...]]] = APPLICATION_SECTIONS

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

    def validate_register_number(self, field):
        if self.legal_form.data in LEGAL_FORMS_WITH_REGISTER and not (
            field.data and self.register_court.data
        ):
            raise ValidationError(
                _l(
                    "Bitte geben Sie Registergericht und Registernummer an; Ihre Rechtsform ist "
                    "in ein Register eingetragen."
                )
            )

    def validate_de_minimis_received(self, field):
        if self.de_minimis_undertaking.data == "y" and field.data is None and not field.errors:
            raise ValidationError(
                _l("Bitte geben Sie die erhaltenen De-minimis-Beihilfen an (0, wenn keine).")
            )

    def cost_rows(self) -> list[dict]:
        """The filled rows of the cost plan, in cents."""
        return [
            {
                "year": entry.year.data,
                "personnel_costs": entry.personnel_costs.data or 0,
                "other_costs": entry.other_costs.data or 0,
            }
            for entry in self.cost_plan
            if not _blank(entry)
        ]

    def position_rows(self) -> list[dict]:
        return [
            {
                "role": entry.role.data,
                "months": entry.months.data,
                "fte_percent": entry.fte_percent.data,
                "cost": entry.cost.data or 0,
            }
            for entry in self.personnel_positions
            if not _blank(entry)
        ]

    def validate_cost_plan(self, field):
        if any(isinstance(e, dict) and e for e in field.errors):
            return
        for entry in field:
            if not _blank(entry) and entry.year.data is None:
                raise ValidationError(_l("Bitte geben Sie zu jeder Zeile das Jahr an."))
        rows = self.cost_rows()
        if not rows:
            raise ValidationError(
                _l("Bitte verteilen Sie die Ausgaben auf die Kalenderjahre des Projekts.")
            )
        years = [r["year"] for r in rows]
        if len(set(years)) != len(years):
            raise ValidationError(_l("Bitte geben Sie jedes Jahr nur einmal an."))
        start, end = self.start_date.data, self.end_date.data
        if start and end and any(not start.year <= y <= end.year for y in years):
            raise ValidationError(
                _l(
                    "Bitte geben Sie nur Jahre der Projektlaufzeit an (%(first)d bis %(last)d).",
                    first=start.year,
                    last=end.year,
                )
            )
        personnel, other = self.personnel_costs.data, self.other_costs.data
        planned_personnel = sum(r["personnel_costs"] for r in rows)
        planned_other = sum(r["other_costs"] for r in rows)
        if personnel is not None and planned_personnel != personnel:
            raise ValidationError(
                _l(
                    "Die Personalausgaben der Jahre ergeben zusammen %(plan)s, oben angegeben "
                    "sind %(total)s. Bitte gleichen Sie die Beträge an.",
                    plan=formatting.money(planned_personnel),
                    total=formatting.money(personnel),
                )
            )
        if other is not None and planned_other != other:
            raise ValidationError(
                _l(
                    "Die Sachausgaben der Jahre ergeben zusammen %(plan)s, oben angegeben sind "
                    "%(total)s. Bitte gleichen Sie die Beträge an.",
                    plan=formatting.money(planned_other),
                    total=formatting.money(other),
                )
            )

    def validate_personnel_positions(self, field):
        if any(isinstance(e, dict) and e for e in field.errors):
            return
        for entry in field:
            if not _blank(entry) and not (
                entry.role.data and entry.months.data and entry.fte_percent.data
            ):
                raise ValidationError(
                    _l("Bitte geben Sie zu jeder Stelle Funktion, Monate und Stellenanteil an.")
                )
        rows = self.position_rows()
        personnel = self.personnel_costs.data
        if personnel and not rows:
            raise ValidationError(
                _l("Bitte nennen Sie die Personalstellen, aus denen die Personalausgaben bestehen.")
            )
        planned = sum(r["cost"] for r in rows)
        if personnel is not None and rows and planned != personnel:
            raise ValidationError(
                _l(
                    "Die Ausgaben der Personalstellen ergeben zusammen %(plan)s, als "
                    "Personalausgaben angegeben sind %(total)s. Bitte gleichen Sie die Beträge an.",
                    plan=formatting.money(planned),
                    total=formatting.money(personnel),
                )
            )

    def first_error(self, field) -> str:
        """The first message of a field; for a table, with the row and column it is about."""
        for error in field.errors:
            if isinstance(error, str) or not isinstance(error, dict):
                return str(error)
        for index, entry_errors in enumerate(field.errors):
            if isinstance(entry_errors, dict):
                for name, messages in entry_errors.items():
                    label = field[index][name].label.text
                    return f"{index + 1}. {label}: {messages[0]}"
        return ""

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
        values["signatory_name"] = self.signatory_name.data
        values["signatory_function"] = self.signatory_function.data
        values["register_court"] = self.register_court.data or None
        values["register_number"] = self.register_number.data or None
        values["site_in_lower_saxony"] = self.site_in_lower_saxony.data == "y"
        values["cost_plan"] = self.cost_rows()
        values["personnel_positions"] = self.position_rows()
        values["de_minimis_undertaking"] = self.de_minimis_undertaking.data == "y"
        values["de_minimis_received"] = (
            self.de_minimis_received.data if values["de_minimis_undertaking"] else None
        )
        return values


class StatusLinkForm(FlaskForm):
    """Ask for a lost status link again: reference number and contact address."""

    reference = StringField(
        _l("Aktenzeichen"),
        validators=[_required(), Length(max=16)],
        filters=[one_line],
        description=_l("Steht in Ihrer Eingangsbestätigung, z. B. NON-2026-0042."),
    )
    contact_email = StringField(
        _l("E-Mail-Adresse der Ansprechperson"),
        validators=[_required(), Length(max=254), _email],
        filters=[one_line],
        description=_l("Die Adresse, die im Antrag angegeben ist."),
    )


class MessageForm(FlaskForm):
    """A message from the applicant to the staff, on the status page."""

    body = TextAreaField(
        _l("Ihre Nachricht an die Geschäftsstelle"),
        validators=[_required(_l("Bitte schreiben Sie eine Nachricht.")), Length(max=5000)],
        filters=[multi_line],
    )
