"""Forms of the review area: the review itself and the conflict-of-interest declaration."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from app.labels import RECOMMENDATION_LABELS, SCORE_LABELS
from app.web.fields import choices

SCORE_CHOICES = choices((i, str(i)) for i in range(6))


def _score(key: str) -> RadioField:
    return RadioField(
        SCORE_LABELS[key],
        choices=SCORE_CHOICES,
        coerce=int,
        validators=[InputRequired(message=_l("Bitte vergeben Sie 0 bis 5 Punkte."))],
        description=_l("0 = nicht erkennbar, 5 = hervorragend"),
    )


class ReviewForm(FlaskForm):
    recommendation = RadioField(
        _l("Empfehlung"),
        choices=choices(RECOMMENDATION_LABELS.items()),
        validators=[InputRequired(message=_l("Bitte wählen Sie eine Empfehlung."))],
    )
    score_regional = _score("score_regional")
    score_strategy = _score("score_strategy")
    score_feasibility = _score("score_feasibility")
    score_sustainability = _score("score_sustainability")
    comment = TextAreaField(_l("Kommentar"), validators=[Optional(), Length(max=5000)])
    no_conflict = BooleanField(
        _l("Ich erkläre, dass bei mir kein Interessenkonflikt zu diesem Antrag besteht."),
        validators=[
            DataRequired(message=_l("Bitte bestätigen Sie, dass kein Interessenkonflikt besteht."))
        ],
    )


class ConflictForm(FlaskForm):
    """Declaring a conflict of interest records it instead of a review."""

    conflict_comment = TextAreaField(
        _l("Art des Interessenkonflikts"), validators=[Optional(), Length(max=2000)]
    )
