"""Settings classes. Every setting is read from the environment and typed.

The factory picks one class (``APP_ENV`` = development | production | testing; unset means
production, so the built-in development key never reaches a forgotten deployment) and
test settings are passed into ``create_app`` rather than patched afterwards, because
several extensions (Flask-Mail, Flask-Limiter) read their settings once at init.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"

_TRUE = {"1", "true", "yes", "on", "y", "ja"}
_FALSE = {"0", "false", "no", "off", "n", "nein", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    """Read a boolean: "false", "0", "no" and "" are false; anything unknown is an error."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name} must be a boolean (true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return int(raw.strip())
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_date(name: str, default: dt.date | None = None) -> dt.date | None:
    """Read an ISO date (``2026-11-30``); anything else is an error naming the variable."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError(f"{name} must be a date as YYYY-MM-DD, got {raw!r}") from None


# The operator's details shown on the legal pages (Impressum, Datenschutzhinweise,
# Erklärung zur Barrierefreiheit). They are facts about the body that runs the portal, so
# production refuses to start while one is missing; development and tests use placeholders.
OPERATOR_REQUIRED = (
    "OPERATOR_NAME",
    "OPERATOR_ADDRESS",
    "OPERATOR_REPRESENTATIVE",
    "OPERATOR_EMAIL",
    "OPERATOR_PHONE",
    "DPO_NAME",
    "DPO_EMAIL",
    "ACCESSIBILITY_CONTACT_EMAIL",
    "ACCESSIBILITY_REVIEWED_ON",
)
OPERATOR_PLACEHOLDERS = {
    "OPERATOR_NAME": "Geschäftsstelle der Allianz für Fachkräfte NON (Entwicklung)",
    "OPERATOR_ADDRESS": ["Musterstraße 1", "21335 Lüneburg"],
    "OPERATOR_REPRESENTATIVE": "Vorname Nachname (Platzhalter)",
    "OPERATOR_EMAIL": "geschaeftsstelle@localhost",
    "OPERATOR_PHONE": "+49 4131 000000",
    "DPO_NAME": "Datenschutzbeauftragte/r (Platzhalter)",
    "DPO_EMAIL": "datenschutz@localhost",
    "ACCESSIBILITY_CONTACT_EMAIL": "barrierefreiheit@localhost",
    "ACCESSIBILITY_REVIEWED_ON": dt.date(2026, 11, 30),
}


class Config:
    """Defaults shared by every environment; all overridable from the environment."""

    def __init__(self) -> None:
        # Read at instantiation, not import, so a test or CLI can set the environment first.
        self.SECRET_KEY = env_str("SECRET_KEY")
        self.SQLALCHEMY_DATABASE_URI = env_str(
            "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'non.sqlite'}"
        )
        self.REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
        self.MAIL_SERVER = env_str("MAIL_SERVER", "127.0.0.1")
        self.MAIL_PORT = env_int("MAIL_PORT", 8025)
        self.MAIL_USE_TLS = env_bool("MAIL_USE_TLS", False)
        self.MAIL_USE_SSL = env_bool("MAIL_USE_SSL", False)
        self.MAIL_USERNAME = env_str("MAIL_USERNAME") or None
        self.MAIL_PASSWORD = env_str("MAIL_PASSWORD") or None
        self.MAIL_DEFAULT_SENDER = env_str(
            "MAIL_DEFAULT_SENDER", "Allianz für Fachkräfte NON <foerderung@localhost>"
        )
        self.MAIL_TIMEOUT = env_int("MAIL_TIMEOUT", 30)
        self.STAFF_EMAILS = env_list("STAFF_EMAILS", "geschaeftsstelle@localhost")
        self.BASE_URL = env_str("BASE_URL", "http://127.0.0.1:5000").rstrip("/")
        self.PROGRAMME = env_str("PROGRAMME", "NON-2025")
        # Where earlier versions kept the PDF attachments; they live in the database now
        # (app.cases.uploads). Only the migration f771f73e7dc4 reads the folder, once.
        self.UPLOAD_DIR = env_str("UPLOAD_DIR", str(INSTANCE_DIR / "uploads"))
        self.MAIL_SINK_DIR = env_str("MAIL_SINK_DIR", str(INSTANCE_DIR / "mail"))
        # Replies by email (docs/replies.md): the base reply address (empty: no reply
        # addresses), how the portal receives mail, and how long a reply address works.
        self.REPLY_ADDRESS = env_str("REPLY_ADDRESS", "antwort@localhost")
        self.REPLY_TOKEN_MAX_AGE_DAYS = env_int("REPLY_TOKEN_MAX_AGE_DAYS", 365)
        self.INBOUND_MODE = env_str("INBOUND_MODE", "smtp")  # smtp | imap | off
        self.INBOUND_SMTP_HOST = env_str("INBOUND_SMTP_HOST", "127.0.0.1")
        self.INBOUND_SMTP_PORT = env_int("INBOUND_SMTP_PORT", 8026)
        self.INBOUND_MAX_BYTES = env_int("INBOUND_MAX_BYTES", 25 * 1024 * 1024)
        self.IMAP_HOST = env_str("IMAP_HOST")
        self.IMAP_PORT = env_int("IMAP_PORT", 993)
        self.IMAP_USERNAME = env_str("IMAP_USERNAME")
        self.IMAP_PASSWORD = env_str("IMAP_PASSWORD")
        self.IMAP_FOLDER = env_str("IMAP_FOLDER", "INBOX")
        self.IMAP_POLL_SECONDS = env_int("IMAP_POLL_SECONDS", 60)

        # The staff case list counts its matches up to this many; beyond, it says "more
        # than …" and pages on without a last page (docs/workspace.md, app.paging).
        self.CASE_LIST_COUNT_CAP = env_int("CASE_LIST_COUNT_CAP", 10_000)
        self.ATTACHMENT_MAX_BYTES = env_int("ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)
        # Larger than the attachment limit so an oversized PDF reaches the form validator
        # (a message beside the field) instead of a bare 413.
        self.MAX_CONTENT_LENGTH = env_int("MAX_CONTENT_LENGTH", 25 * 1024 * 1024)
        self.FORM_MIN_FILL_SECONDS = env_int("FORM_MIN_FILL_SECONDS", 5)
        self.FORM_MAX_AGE_SECONDS = env_int("FORM_MAX_AGE_SECONDS", 24 * 3600)
        self.OUTBOX_REDISPATCH_AFTER_SECONDS = env_int("OUTBOX_REDISPATCH_AFTER_SECONDS", 60)
        # Background pipeline (docs/pipeline.md): how often the worker re-dispatches, when a
        # started job without heartbeat counts as abandoned, RQ retry backoff and TTLs.
        self.OUTBOX_REDISPATCH_INTERVAL_SECONDS = env_int("OUTBOX_REDISPATCH_INTERVAL_SECONDS", 30)
        self.OUTBOX_ABANDONED_AFTER_SECONDS = env_int("OUTBOX_ABANDONED_AFTER_SECONDS", 300)
        self.OUTBOX_RETRY_INTERVALS = [
            int(v) for v in env_list("OUTBOX_RETRY_INTERVALS", "10,60,300,900,3600")
        ]
        self.OUTBOX_JOB_TIMEOUT = env_int("OUTBOX_JOB_TIMEOUT", 120)
        self.OUTBOX_RESULT_TTL = env_int("OUTBOX_RESULT_TTL", 3600)
        self.OUTBOX_FAILURE_TTL = env_int("OUTBOX_FAILURE_TTL", 30 * 24 * 3600)
        self.WORKER_MONITOR_INTERVAL_SECONDS = env_int("WORKER_MONITOR_INTERVAL_SECONDS", 30)
        # Signed action links in staff emails (docs/inbox.md): how long they work.
        self.ACTION_LINK_MAX_AGE_DAYS = env_int("ACTION_LINK_MAX_AGE_DAYS", 14)
        # The digest hour (Europe/Berlin) until an administrator sets the defaults.
        self.INBOX_DEFAULT_DIGEST_HOUR = env_int("INBOX_DEFAULT_DIGEST_HOUR", 8)
        self.NOTIFICATION_CLAIM_TIMEOUT_SECONDS = env_int("NOTIFICATION_CLAIM_TIMEOUT_SECONDS", 600)
        # Flask-Mail suppresses sending whenever TESTING is set; the tests use a real local
        # SMTP server instead, so sending is on unless switched off explicitly.
        self.MAIL_SUPPRESS_SEND = env_bool("MAIL_SUPPRESS_SEND", False)
        self.SQLITE_BUSY_TIMEOUT_MS = env_int("SQLITE_BUSY_TIMEOUT_MS", 15000)

        self.BABEL_DEFAULT_LOCALE = "de"
        self.BABEL_DEFAULT_TIMEZONE = "Europe/Berlin"
        self.LANGUAGES = ["de", "en"]
        self.BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "translations")

        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.PERMANENT_SESSION_LIFETIME = env_int("SESSION_IDLE_MINUTES", 30) * 60
        # However active, a login ends this long after it began (checked on the server).
        self.SESSION_ABSOLUTE_HOURS = env_int("SESSION_ABSOLUTE_HOURS", 10)
        self.RATELIMIT_STORAGE_URI = env_str("RATELIMIT_STORAGE_URI", self.REDIS_URL)
        self.RATELIMIT_ENABLED = env_bool("RATELIMIT_ENABLED", True)
        # Redis down must not turn a login into a 500: count in memory until it is back.
        self.RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
        self.RATELIMIT_SWALLOW_ERRORS = True
        # Login attempts (app.auth), counted before the password is checked: per account and
        # client address, per address over all accounts, and a higher ceiling per account
        # over all addresses (one address cannot lock the real user out elsewhere).
        self.LOGIN_RATELIMIT_PER_ACCOUNT_ADDRESS = env_str(
            "LOGIN_RATELIMIT_PER_ACCOUNT_ADDRESS", "5 per minute"
        )
        self.LOGIN_RATELIMIT_PER_ADDRESS = env_str("LOGIN_RATELIMIT_PER_ADDRESS", "10 per minute")
        self.LOGIN_RATELIMIT_PER_ACCOUNT = env_str("LOGIN_RATELIMIT_PER_ACCOUNT", "30 per hour")
        # Two-factor login (TOTP) for staff and admins; reviewers may opt in. On unless
        # switched off; development and testing switch it off (the demo accounts).
        self.TOTP_REQUIRED = env_bool("TOTP_REQUIRED", True)
        # argon2id cost (argon2-cffi's defaults: RFC 9106's low-memory profile, 64 MiB). Not
        # from the environment: only the tests lower it, as a setting of TestingConfig.
        self.PASSWORD_HASH_PARAMETERS = {"time_cost": 3, "memory_cost": 65536, "parallelism": 4}
        self.TOTP_RATELIMIT = env_str("TOTP_RATELIMIT", "10 per hour")
        # Time between password and code before the login starts over.
        self.TWO_FACTOR_PENDING_SECONDS = env_int("TWO_FACTOR_PENDING_SECONDS", 300)
        self.PASSWORD_RESET_MAX_AGE_SECONDS = env_int("PASSWORD_RESET_MAX_AGE_SECONDS", 30 * 60)
        self.PASSWORD_RESET_LIMIT = env_str("PASSWORD_RESET_LIMIT", "5 per hour")
        # The public form (issue 7): final submissions per client address and per contact
        # address, uploads per client address, and files of unsubmitted forms in total.
        self.SUBMIT_LIMIT_PER_ADDRESS = env_str("SUBMIT_LIMIT_PER_ADDRESS", "10 per hour")
        self.SUBMIT_LIMIT_PER_EMAIL = env_str("SUBMIT_LIMIT_PER_EMAIL", "3 per day")
        self.UPLOAD_LIMIT_PER_ADDRESS = env_str("UPLOAD_LIMIT_PER_ADDRESS", "30 per hour")
        self.PENDING_UPLOADS_MAX = env_int("PENDING_UPLOADS_MAX", 1000)
        # The conversation (issue 11): drafts saved and messages posted per client address, and
        # lost status links asked for per client address and per reference.
        self.DRAFT_RATELIMIT = env_str("DRAFT_RATELIMIT", "10 per hour")
        self.APPLICANT_MESSAGE_RATELIMIT = env_str("APPLICANT_MESSAGE_RATELIMIT", "20 per hour")
        self.STATUS_LINK_RATELIMIT_PER_ADDRESS = env_str(
            "STATUS_LINK_RATELIMIT_PER_ADDRESS", "5 per hour"
        )
        self.STATUS_LINK_RATELIMIT_PER_REFERENCE = env_str(
            "STATUS_LINK_RATELIMIT_PER_REFERENCE", "3 per hour"
        )
        # Number of reverse proxies in front of the app whose X-Forwarded-For/-Proto to trust
        # (0: none). Behind one proxy set 1, or every login seems to come from the proxy.
        self.PROXY_FIX_X_FOR = env_int("PROXY_FIX_X_FOR", 0)
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        self.WTF_CSRF_TIME_LIMIT = None  # the form may take an hour; the session still bounds it
        # Strict-Transport-Security max-age; 0 sends no header (development runs on http).
        self.HSTS_SECONDS = env_int("HSTS_SECONDS", 365 * 24 * 3600)
        self._read_operator()
        self._read_retention()

    def _read_operator(self) -> None:
        """Who runs the portal (legal pages). Addresses are comma-separated lines."""
        self.OPERATOR_NAME = env_str("OPERATOR_NAME")
        self.OPERATOR_ADDRESS = env_list("OPERATOR_ADDRESS")
        self.OPERATOR_REPRESENTATIVE = env_str("OPERATOR_REPRESENTATIVE")
        self.OPERATOR_EMAIL = env_str("OPERATOR_EMAIL")
        self.OPERATOR_PHONE = env_str("OPERATOR_PHONE")
        self.OPERATOR_VAT_ID = env_str("OPERATOR_VAT_ID")  # optional (§ 5 (1) 6 DDG)
        self.OPERATOR_SUPERVISORY_AUTHORITY = env_str("OPERATOR_SUPERVISORY_AUTHORITY")  # optional
        self.DPO_NAME = env_str("DPO_NAME")
        self.DPO_EMAIL = env_str("DPO_EMAIL")
        self.DPO_ADDRESS = env_list("DPO_ADDRESS")  # optional: defaults to the operator's
        self.ACCESSIBILITY_CONTACT_EMAIL = env_str("ACCESSIBILITY_CONTACT_EMAIL")
        self.ACCESSIBILITY_REVIEWED_ON = env_date("ACCESSIBILITY_REVIEWED_ON")
        # Authorities named on the legal pages; the defaults are Lower Saxony's (check them
        # before going live, see docs/privacy.md).
        self.DPA_NAME = env_str(
            "DPA_NAME", "Die Landesbeauftragte für den Datenschutz Niedersachsen"
        )
        self.DPA_ADDRESS = env_list("DPA_ADDRESS", "Prinzenstraße 5, 30159 Hannover")
        self.DPA_EMAIL = env_str("DPA_EMAIL", "poststelle@lfd.niedersachsen.de")
        self.DPA_URL = env_str("DPA_URL", "https://www.lfd.niedersachsen.de")
        self.ARBITRATION_NAME = env_str(
            "ARBITRATION_NAME",
            "Schlichtungsstelle nach § 9 d NBGG bei der oder dem Landesbeauftragten für "
            "Menschen mit Behinderungen",
        )
        self.ARBITRATION_ADDRESS = env_list(
            "ARBITRATION_ADDRESS", "Hannah-Arendt-Platz 2, 30159 Hannover"
        )
        self.ARBITRATION_EMAIL = env_str(
            "ARBITRATION_EMAIL", "schlichtungsstelle@ms.niedersachsen.de"
        )

    def _read_retention(self) -> None:
        """Retention periods (app/cases/retention.py, docs/privacy.md)."""
        self.RETENTION_WITHDRAWN_MONTHS = env_int("RETENTION_WITHDRAWN_MONTHS", 6)
        self.RETENTION_REJECTED_MONTHS = env_int("RETENTION_REJECTED_MONTHS", 12)
        # Calendar years after the year of the project end: the final payment follows the
        # proof of use in the next year, then Art. 82 CPR / ANBest-P 6.9 keep five more.
        self.RETENTION_FUNDED_YEARS = env_int("RETENTION_FUNDED_YEARS", 6)
        # Hour (Europe/Berlin) from which the worker starts the day's retention run; off, the
        # operator runs ``flask --app wsgi retention run`` by other means.
        self.RETENTION_RUN_HOUR = env_int("RETENTION_RUN_HOUR", 3)
        self.RETENTION_RUN_DAILY = env_bool("RETENTION_RUN_DAILY", True)

    def fill_operator_placeholders(self) -> None:
        for name, value in OPERATOR_PLACEHOLDERS.items():
            if not getattr(self, name):
                setattr(self, name, value)

    def missing_operator_details(self) -> list[str]:
        return [name for name in OPERATOR_REQUIRED if not getattr(self, name)]


class DevelopmentConfig(Config):
    def __init__(self) -> None:
        super().__init__()
        self.SECRET_KEY = self.SECRET_KEY or "dev-only-not-secret"
        self.fill_operator_placeholders()
        self.TOTP_REQUIRED = env_bool("TOTP_REQUIRED", False)
        self.HSTS_SECONDS = env_int("HSTS_SECONDS", 0)
        self.SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE


class ProductionConfig(Config):
    def __init__(self) -> None:
        super().__init__()
        # create_app runs refuse_unsafe_production() for this environment
        self.PRODUCTION = True
        # The one-machine shape of DESIGN.md (SQLite, one web and one worker process) is a
        # deliberate choice the operator must state; several nodes need PostgreSQL.
        self.PRODUCTION_ALLOW_SQLITE = env_bool("PRODUCTION_ALLOW_SQLITE", False)
        if len(self.SECRET_KEY) < 32:
            raise RuntimeError("SECRET_KEY must be set to at least 32 random characters")
        missing = self.missing_operator_details()
        if missing:
            raise RuntimeError(
                "The legal pages need the operator's details; set "
                + ", ".join(missing)
                + " (see the configuration table in README.md)"
            )


class TestingConfig(Config):
    __test__ = False  # not a pytest test class, though test modules import it

    def __init__(self) -> None:
        super().__init__()
        self.TESTING = True
        self.SECRET_KEY = "test-secret-key"  # noqa: S105 - tests only
        self.SESSION_COOKIE_SECURE = False
        self.REMEMBER_COOKIE_SECURE = False
        self.FORM_MIN_FILL_SECONDS = 0
        self.RATELIMIT_ENABLED = False
        self.TOTP_REQUIRED = False  # tests that need it switch it on
        # The suite hashes and checks hundreds of passwords: the cheapest argon2id allowed
        # (tests/test_auth.py checks the production parameters separately).
        self.PASSWORD_HASH_PARAMETERS = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}
        self.STAFF_EMAILS = ["staff@example.org"]
        self.BASE_URL = "https://foerderung.example.org"
        self.fill_operator_placeholders()


# Secrets that appear in this repository (development, tests, docs): never good enough.
KNOWN_SECRETS = frozenset({"dev-only-not-secret", "test-secret-key", "change-me", "secret"})


def refuse_unsafe_production(settings: Mapping[str, Any]) -> None:
    """Refuse to start production with settings that are unsafe there: raises RuntimeError
    naming every problem at once, so an operator fixes them in one go."""
    problems = []
    secret = str(settings.get("SECRET_KEY") or "")
    if len(secret) < 32 or secret in KNOWN_SECRETS or len(set(secret)) < 8:
        problems.append("SECRET_KEY must be at least 32 random characters, not a default")
    uri = str(settings.get("SQLALCHEMY_DATABASE_URI") or "")
    if uri.startswith("sqlite") and not settings.get("PRODUCTION_ALLOW_SQLITE"):
        problems.append(
            "DATABASE_URL points to SQLite: use PostgreSQL (or set PRODUCTION_ALLOW_SQLITE=true "
            "for the one-machine setup with a single web and worker process)"
        )
    for name in ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"):
        if not settings.get(name):
            problems.append(f"{name} must be true (cookies only over HTTPS)")
    if not str(settings.get("BASE_URL") or "").startswith("https://"):
        problems.append("BASE_URL must start with https:// (links in emails)")
    if problems:
        raise RuntimeError("unsafe production configuration: " + "; ".join(problems))


CONFIGS = {
    "development": DevelopmentConfig,
    "production": ProductionConfig,
    "testing": TestingConfig,
}


def config_from_env() -> Config:
    # Unset means production: the built-in development key (and every other development
    # convenience) exists only where development or testing was chosen explicitly.
    name = env_str("APP_ENV", "production")
    try:
        return CONFIGS[name]()
    except KeyError:
        raise RuntimeError(f"APP_ENV must be one of {sorted(CONFIGS)}, got {name!r}") from None
