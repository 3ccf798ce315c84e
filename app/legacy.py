"""Permanent redirects from the German staff-side paths used before the URL convention.

Convention: the public applicant pages keep German paths (``/antrag``, ``/status/…``, fixed
in the design); everything behind a login uses English paths. Emails already sent carry
``/aktion/<action>/<token>`` links, and staff have bookmarks of the old pages, so those paths
answer with a 308 to their new place (the method is kept; a POST is never redirected to a
GET).
"""

from __future__ import annotations

from flask import Flask

# old path (Werkzeug rule syntax) -> new path with the same placeholders
OLD_PATHS = {
    "/aktion/<action>/<token>": "/action/<action>/<token>",
    "/staff/betrieb": "/staff/operations",
    "/staff/cases/<int:case_id>/aktion/<action>": "/staff/cases/<case_id>/action/<action>",
    "/staff/cases/<int:case_id>/anhang": "/staff/cases/<case_id>/attachment",
}


def register(app: Flask) -> None:
    for old, new in OLD_PATHS.items():
        app.add_url_rule(old, endpoint=f"legacy:{old}", redirect_to=new)
