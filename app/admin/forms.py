"""Forms of the account administration."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from app.labels import ROLE_LABELS
from app.web.fields import choices, one_line


class CreateUserForm(FlaskForm):
    email = EmailField(
        _l("E-Mail-Adresse"),
        validators=[DataRequired(_l("Bitte geben Sie eine E-Mail-Adresse ein.")), Length(max=254)],
        filters=[one_line],
    )
    name = StringField(_l("Vor- und Nachname"), validators=[Length(max=200)], filters=[one_line])
    role = SelectField(_l("Rolle"), choices=choices(ROLE_LABELS.items()))


class RoleForm(FlaskForm):
    role = SelectField(_l("Rolle"), choices=choices(ROLE_LABELS.items()))
