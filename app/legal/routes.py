"""Impressum (§ 5 DDG), Datenschutzhinweise (Art. 13 DSGVO), Erklärung zur Barrierefreiheit.

The operator's details are settings (config.py, ``OPERATOR_*``, ``DPO_*`` …), never template
text; the retention periods come from ``app.cases.retention.RULES``, the same data the purge
applies, so the page and the behaviour cannot drift apart.
"""

from __future__ import annotations

from flask import Blueprint, render_template

from app.cases import retention

bp = Blueprint("legal", __name__)


@bp.get("/impressum")
def imprint():
    return render_template("legal/imprint.html")


@bp.get("/datenschutz")
def privacy():
    return render_template(
        "legal/privacy.html",
        rules=retention.RULES,
        open_states=retention.OPEN_STATES,
        open_purpose=retention.OPEN_PURPOSE,
    )


@bp.get("/barrierefreiheit")
def accessibility():
    return render_template("legal/accessibility.html")
