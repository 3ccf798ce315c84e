"""What a web worker's memory is made of: the RSS each import adds, in the order a worker
imports them, against the bare Flask + SQLAlchemy app of bench/bare_app.py.

    .venv/bin/python bench/memory.py

Each measurement runs in a fresh interpreter (``APP_ENV=development``, no requests served):
the figure is the resident set after importing the named modules on top of the ones
before. bench/web.py measures the workers after load; this one says where the difference
to the bare app comes from. Figures go to docs/performance.md by hand.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# In import order; each step adds its modules to everything above it ("cldr:LANG": Babel's
# locale data of LANG, loaded).
STEPS = [
    ("Python", []),
    ("Flask", ["flask"]),
    ("SQLAlchemy, Flask-SQLAlchemy (= the bare app's imports)", ["flask_sqlalchemy"]),
    (
        "Flask-WTF, Flask-Login, Flask-Limiter, Flask-Mail, Flask-Babel",
        [
            "flask_wtf",
            "flask_login",
            "flask_limiter",
            "flask_mail",
            "flask_babel",
        ],
    ),
    ("redis, RQ", ["redis", "rq"]),
    ("argon2-cffi, pyotp, email-validator", ["argon2", "pyotp", "email_validator"]),
    # Not an import: the data Babel loads on the first date or amount formatted in a language.
    ("Babel's CLDR data of German and English", ["cldr:de", "cldr:en"]),
    ("the portal (app, its blueprints, models and templates helpers)", ["wsgi"]),
    ("(not imported by a worker any more) Alembic via Flask-Migrate", ["flask_migrate"]),
    ("(not imported by a worker any more) pypdf", ["pypdf"]),
]

PROBE = """
import importlib, sys
for name in sys.argv[1:]:
    if name.startswith("cldr:"):
        importlib.import_module("babel.localedata").load(name[5:])
    else:
        importlib.import_module(name)
for line in open("/proc/self/status"):
    if line.startswith("VmRSS:"):
        print(int(line.split()[1]) / 1024)
"""


def rss_after(modules: list[str]) -> float:
    env = dict(os.environ, APP_ENV="development", PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *modules],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    modules: list[str] = []
    before = None
    print("| imports | RSS after (MiB) | added (MiB) |")
    print("|---|---:|---:|")
    for label, names in STEPS:
        modules = [*modules, *names]
        # median of three fresh interpreters
        rss = sorted(rss_after(modules) for _ in range(3))[1]
        added = "" if before is None else f"{rss - before:+.1f}"
        print(f"| {label} | {rss:.1f} | {added} |")
        before = rss


if __name__ == "__main__":
    main()
