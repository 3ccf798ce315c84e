"""Settings: read from the environment at instantiation, typed, with clear errors."""

from __future__ import annotations

import datetime

import pytest

import config
from app import create_app
from app.extensions import db
from app.programmes import read_round_files
from config import (
    Config,
    DevelopmentConfig,
    ProductionConfig,
    TestingConfig,
    config_from_env,
    env_bool,
    env_int,
    env_list,
)

# Every variable of DESIGN.md's operations contract plus the ones config.py adds.
VARIABLES = (
    "APP_ENV",
    "SECRET_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "MAIL_SERVER",
    "MAIL_PORT",
    "MAIL_USE_TLS",
    "MAIL_USE_SSL",
    "MAIL_USERNAME",
    "MAIL_PASSWORD",
    "MAIL_DEFAULT_SENDER",
    "STAFF_EMAILS",
    "BASE_URL",
    "PROGRAMME",
    "UPLOAD_DIR",
    "RATELIMIT_STORAGE_URI",
    "RATELIMIT_ENABLED",
    "SESSION_COOKIE_SECURE",
    "PRODUCTION_ALLOW_SQLITE",
    *config.OPERATOR_REQUIRED,
    "OPERATOR_VAT_ID",
    "OPERATOR_SUPERVISORY_AUTHORITY",
    "DPO_ADDRESS",
)

# What a production start needs for the legal pages besides the contract variables.
OPERATOR_VALUES = {
    "OPERATOR_NAME": "IHK Lüneburg-Wolfsburg",
    "OPERATOR_ADDRESS": "Am Sande 1, 21335 Lüneburg",
    "OPERATOR_REPRESENTATIVE": "Hauptgeschäftsführung",
    "OPERATOR_EMAIL": "allianz@ihk.example",
    "OPERATOR_PHONE": "+49 4131 742-0",
    "DPO_NAME": "Datenschutzbeauftragter der IHK",
    "DPO_EMAIL": "datenschutz@ihk.example",
    "ACCESSIBILITY_CONTACT_EMAIL": "barrierefreiheit@ihk.example",
    "ACCESSIBILITY_REVIEWED_ON": "2026-11-30",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("raw", ["false", "False", " FALSE ", "0", "no", "off", "nein", ""])
def test_false_strings_are_false(monkeypatch, raw):
    monkeypatch.setenv("FLAG", raw)
    assert env_bool("FLAG", default=True) is False


@pytest.mark.parametrize("raw", ["true", "True", "1", "yes", "on", "ja"])
def test_true_strings_are_true(monkeypatch, raw):
    monkeypatch.setenv("FLAG", raw)
    assert env_bool("FLAG") is True


def test_unset_boolean_takes_default():
    assert env_bool("FLAG_NOT_SET", default=True) is True
    assert env_bool("FLAG_NOT_SET") is False


@pytest.mark.parametrize("raw", ["maybe", "2", "wahr"])
def test_unknown_boolean_is_an_error_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv("MAIL_USE_TLS", raw)
    with pytest.raises(ValueError, match="MAIL_USE_TLS must be a boolean"):
        Config()


def test_integer_parsing(monkeypatch):
    monkeypatch.setenv("MAIL_PORT", " 2525 ")
    assert Config().MAIL_PORT == 2525
    monkeypatch.setenv("MAIL_PORT", "")
    assert Config().MAIL_PORT == 8025
    monkeypatch.setenv("MAIL_PORT", "twenty-five")
    with pytest.raises(ValueError, match="MAIL_PORT must be an integer, got 'twenty-five'"):
        Config()
    assert env_int("NOT_SET_AT_ALL", 7) == 7


def test_list_parsing(monkeypatch):
    monkeypatch.setenv("STAFF_EMAILS", " a@example.org, ,b@example.org ,")
    assert Config().STAFF_EMAILS == ["a@example.org", "b@example.org"]
    assert env_list("NOT_SET_AT_ALL") == []


def test_defaults_are_local_and_safe():
    settings = DevelopmentConfig()
    assert f"sqlite:///{config.INSTANCE_DIR / 'non.sqlite'}" == settings.SQLALCHEMY_DATABASE_URI
    assert settings.REDIS_URL == "redis://127.0.0.1:6379/0"
    assert (settings.MAIL_SERVER, settings.MAIL_PORT) == ("127.0.0.1", 8025)
    assert settings.MAIL_USE_TLS is False
    assert settings.MAIL_USERNAME is None and settings.MAIL_PASSWORD is None
    assert settings.BASE_URL == "http://127.0.0.1:5000"
    assert str(config.INSTANCE_DIR / "uploads") == settings.UPLOAD_DIR
    assert settings.RATELIMIT_STORAGE_URI == settings.REDIS_URL
    assert settings.SECRET_KEY  # development gets a placeholder, production never does


def test_default_programme_is_a_round_on_file():
    codes = {row["code"] for row in read_round_files()}
    assert Config().PROGRAMME in codes
    assert Config().PROGRAMME == "NON-2025"


def test_every_contract_variable_is_read(monkeypatch, tmp_path):
    values = {
        "SECRET_KEY": "s" * 40,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite'}",
        "REDIS_URL": "redis://127.0.0.1:6390/2",
        "MAIL_SERVER": "smtp.example.org",
        "MAIL_PORT": "587",
        "MAIL_USE_TLS": "true",
        "MAIL_USERNAME": "portal",
        "MAIL_PASSWORD": "geheim",
        "MAIL_DEFAULT_SENDER": "NON <foerderung@example.org>",
        "STAFF_EMAILS": "a@example.org,b@example.org",
        "BASE_URL": "https://foerderung.example.org/",
        "PROGRAMME": "NON-2022",
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        **OPERATOR_VALUES,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = ProductionConfig()
    assert settings.SECRET_KEY == "s" * 40
    assert values["DATABASE_URL"] == settings.SQLALCHEMY_DATABASE_URI
    assert values["REDIS_URL"] == settings.REDIS_URL
    assert values["REDIS_URL"] == settings.RATELIMIT_STORAGE_URI
    assert settings.MAIL_SERVER == "smtp.example.org"
    assert settings.MAIL_PORT == 587
    assert settings.MAIL_USE_TLS is True
    assert (settings.MAIL_USERNAME, settings.MAIL_PASSWORD) == ("portal", "geheim")
    assert settings.MAIL_DEFAULT_SENDER == "NON <foerderung@example.org>"
    assert settings.STAFF_EMAILS == ["a@example.org", "b@example.org"]
    assert settings.BASE_URL == "https://foerderung.example.org"  # no trailing slash
    assert settings.PROGRAMME == "NON-2022"
    assert values["UPLOAD_DIR"] == settings.UPLOAD_DIR
    assert settings.SESSION_COOKIE_SECURE is True


def test_environment_is_read_at_instantiation_not_import(monkeypatch):
    before = Config().PROGRAMME
    monkeypatch.setenv("PROGRAMME", "NON-2022")
    assert Config().PROGRAMME == "NON-2022" != before


@pytest.mark.parametrize("secret", [None, "", "too-short"])
def test_production_needs_a_long_secret_key(monkeypatch, secret):
    if secret is not None:
        monkeypatch.setenv("SECRET_KEY", secret)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        ProductionConfig()


def test_operator_details_are_read_typed(monkeypatch):
    for name, value in OPERATOR_VALUES.items():
        monkeypatch.setenv(name, value)
    settings = Config()
    assert settings.OPERATOR_ADDRESS == ["Am Sande 1", "21335 Lüneburg"]
    assert datetime.date(2026, 11, 30) == settings.ACCESSIBILITY_REVIEWED_ON
    assert settings.DPO_ADDRESS == []  # the page falls back to the operator's address
    monkeypatch.setenv("ACCESSIBILITY_REVIEWED_ON", "30.11.2026")
    with pytest.raises(ValueError, match="ACCESSIBILITY_REVIEWED_ON must be a date"):
        Config()


@pytest.mark.parametrize("missing", ["OPERATOR_NAME", "DPO_EMAIL", "ACCESSIBILITY_REVIEWED_ON"])
def test_production_refuses_to_start_without_the_operator_details(monkeypatch, missing):
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    for name, value in OPERATOR_VALUES.items():
        if name != missing:
            monkeypatch.setenv(name, value)
    with pytest.raises(
        RuntimeError, match=f"legal pages need the operator's details; set {missing}"
    ):
        ProductionConfig()


def test_development_and_tests_use_marked_placeholders():
    for settings in (DevelopmentConfig(), TestingConfig()):
        assert not settings.missing_operator_details()
        assert "Platzhalter" in settings.OPERATOR_REPRESENTATIVE


def test_app_env_picks_the_class(monkeypatch):
    monkeypatch.setenv("APP_ENV", "development")
    assert isinstance(config_from_env(), DevelopmentConfig)
    monkeypatch.setenv("APP_ENV", "testing")
    assert isinstance(config_from_env(), TestingConfig)
    monkeypatch.setenv("APP_ENV", "staging")
    with pytest.raises(RuntimeError, match="APP_ENV must be one of"):
        config_from_env()


def test_string_false_reaches_the_app_as_false(monkeypatch, tmp_path):
    monkeypatch.setenv("MAIL_USE_TLS", "false")
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "false")
    monkeypatch.setenv("RATELIMIT_ENABLED", "false")
    app = create_app(
        DevelopmentConfig(),
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'c.sqlite'}",
        RATELIMIT_STORAGE_URI="memory://",
    )
    assert app.config["MAIL_USE_TLS"] is False
    assert app.config["SESSION_COOKIE_SECURE"] is False
    assert app.config["RATELIMIT_ENABLED"] is False
    from app.extensions import db

    with app.app_context():
        db.engine.dispose()


def test_overrides_win_over_the_config_object(tmp_path):
    app = create_app(
        TestingConfig(),
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'o.sqlite'}",
        RATELIMIT_STORAGE_URI="memory://",
        PROGRAMME="NON-2022",
    )
    assert app.config["PROGRAMME"] == "NON-2022"
    assert app.testing
    from app.extensions import db

    with app.app_context():
        db.engine.dispose()


# --- issue 7, point 3: no built-in SECRET_KEY unless development/testing is chosen -----------


def test_unset_app_env_refuses_to_start_without_a_secret_key():
    # The built-in development key would let anyone forge an admin session cookie.
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        config_from_env()


def test_unset_app_env_with_a_real_key_runs_as_production(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    for name, value in OPERATOR_VALUES.items():
        monkeypatch.setenv(name, value)
    settings = config_from_env()
    assert isinstance(settings, ProductionConfig)
    assert settings.SECRET_KEY == "x" * 40


def test_fallback_key_only_when_development_is_explicit(monkeypatch):
    monkeypatch.setenv("APP_ENV", "development")
    assert config_from_env().SECRET_KEY == DevelopmentConfig().SECRET_KEY != ""


def test_make_run_chooses_development_explicitly():
    # `make run`, `make db` and the Procfile run without a SECRET_KEY on a developer's machine.
    makefile = (config.BASE_DIR / "Makefile").read_text()
    assert "export APP_ENV ?= development" in makefile


# --- issue 7, point 8: HSTS outside development ----------------------------------------------


def _headers_of(settings, tmp_path):
    app = create_app(
        settings,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'h.sqlite'}",
        RATELIMIT_STORAGE_URI="memory://",
    )
    headers = app.test_client().get("/gibt-es-nicht").headers
    with app.app_context():
        db.engine.dispose()
    return headers


def test_hsts_outside_development(monkeypatch, tmp_path):
    # production settings that pass its start-up check (below), on a stated SQLite
    monkeypatch.setenv("SECRET_KEY", SAFE_PRODUCTION["SECRET_KEY"])
    monkeypatch.setenv("BASE_URL", SAFE_PRODUCTION["BASE_URL"])
    monkeypatch.setenv("PRODUCTION_ALLOW_SQLITE", "true")
    for name, value in OPERATOR_VALUES.items():
        monkeypatch.setenv(name, value)
    for settings in (ProductionConfig(), TestingConfig()):
        hsts = _headers_of(settings, tmp_path)["Strict-Transport-Security"]
        assert hsts == "max-age=31536000; includeSubDomains"


def test_no_hsts_in_development(tmp_path):
    # Development runs on plain http://127.0.0.1; HSTS there would pin the browser to https.
    assert "Strict-Transport-Security" not in _headers_of(DevelopmentConfig(), tmp_path)


# --- the start-up check of production (docs/performance.md, target 7) --------------------

SAFE_PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": "kT3v9QmZr7Lw2XyB8nHc4JdF6sPa1GeU0oRi5",
    "DATABASE_URL": "postgresql+psycopg://non@db.internal/non",
    "BASE_URL": "https://foerderung.example.org",
    "RATELIMIT_STORAGE_URI": "memory://",
    **OPERATOR_VALUES,
}


def _production_app(monkeypatch, **changes):
    for name, value in {**SAFE_PRODUCTION, **changes}.items():
        monkeypatch.setenv(name, value)
    return create_app()


def test_production_starts_with_safe_settings(monkeypatch):
    app = _production_app(monkeypatch)
    assert app.config["PRODUCTION"] and app.config["SESSION_COOKIE_SECURE"]


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"DATABASE_URL": "sqlite:////srv/non.sqlite"}, "SQLite"),
        ({"SESSION_COOKIE_SECURE": "false"}, "SESSION_COOKIE_SECURE"),
        ({"SECRET_KEY": "a" * 40}, "SECRET_KEY"),  # long, but not random
        ({"BASE_URL": "http://foerderung.example.org"}, "BASE_URL"),
    ],
)
def test_production_refuses_unsafe_settings(monkeypatch, changes, named):
    with pytest.raises(RuntimeError, match=named):
        _production_app(monkeypatch, **changes)


def test_production_on_sqlite_only_when_stated(monkeypatch):
    app = _production_app(
        monkeypatch, DATABASE_URL="sqlite:////tmp/non-prod.sqlite", PRODUCTION_ALLOW_SQLITE="true"
    )
    assert app.config["PRODUCTION_ALLOW_SQLITE"]
    with app.app_context():
        db.engine.dispose()
