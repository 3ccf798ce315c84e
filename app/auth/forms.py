"""Forms of the login page."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from app.web.fields import one_line


class LoginForm(FlaskForm):
    email = EmailField(
        _l("E-Mail-Adresse"),
        validators=[DataRequired(_l("Bitte geben Sie Ihre E-Mail-Adresse ein.")), Length(max=254)],
        render_kw={"autocomplete": "username", "autofocus": True},
    )
    password = PasswordField(
        _l("Passwort"),
        validators=[DataRequired(_l("Bitte geben Sie Ihr Passwort ein.")), Length(max=1024)],
        render_kw={"autocomplete": "current-password"},
    )


class TwoFactorForm(FlaskForm):
    code = StringField(
        _l("Code aus Ihrer Authenticator-App oder ein Wiederherstellungscode"),
        validators=[DataRequired(_l("Bitte geben Sie den Code ein.")), Length(max=32)],
        filters=[one_line],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True},
    )


class TwoFactorSetupForm(FlaskForm):
    code = StringField(
        _l("Sechsstelliger Code aus der App"),
        validators=[DataRequired(_l("Bitte geben Sie den Code ein.")), Length(max=32)],
        filters=[one_line],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class ForgotPasswordForm(FlaskForm):
    email = EmailField(
        _l("E-Mail-Adresse"),
        validators=[DataRequired(_l("Bitte geben Sie Ihre E-Mail-Adresse ein.")), Length(max=254)],
        filters=[one_line],
        render_kw={"autocomplete": "username"},
    )


class ResetPasswordForm(FlaskForm):
    password = PasswordField(
        _l("Neues Passwort (mindestens 12 Zeichen)"),
        validators=[DataRequired(_l("Bitte geben Sie ein Passwort ein.")), Length(max=1024)],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("Neues Passwort wiederholen"),
        validators=[EqualTo("password", _l("Die beiden Passwörter stimmen nicht überein."))],
        render_kw={"autocomplete": "new-password"},
    )
