"""Impressum (§ 5 DDG), Datenschutzhinweise (Art. 13 DSGVO), Erklärung zur Barrierefreiheit."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("legal", __name__)


@bp.get("/impressum")
def imprint():
    return render_template("legal/imprint.html")


@bp.get("/datenschutz")
def privacy():
    return render_template("legal/privacy.html")


@bp.get("/barrierefreiheit")
def accessibility():
    return render_template("legal/accessibility.html")
