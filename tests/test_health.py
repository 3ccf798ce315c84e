"""/healthz: JSON about database and Redis reachability, 200 when both answer, else 503."""

from __future__ import annotations

from app import create_app
from app.extensions import db
from config import TestingConfig
from scripts.services import free_port


def test_healthy(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.is_json
    assert response.json["status"] == "ok"
    assert response.json["checks"] == {"database": "ok", "redis": "ok"}


def test_redis_down_is_503_and_recovers(client, redis_server):
    redis_server.stop()
    try:
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json["status"] == "error"
        assert response.json["checks"]["database"] == "ok"
        assert response.json["checks"]["redis"].startswith("error")
    finally:
        redis_server.start()
    assert client.get("/healthz").status_code == 200


def test_database_down_is_503(redis_url):
    # A PostgreSQL URL on a port where nothing listens: the check must answer, not hang.
    app = create_app(
        TestingConfig(),
        SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none",
        SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"connect_timeout": 2}},
        REDIS_URL=redis_url,
        RATELIMIT_STORAGE_URI="memory://",
    )
    try:
        response = app.test_client().get("/healthz")
        assert response.status_code == 503
        assert response.json["checks"]["database"].startswith("error")
        assert response.json["checks"]["redis"] == "ok"
    finally:
        with app.app_context():
            db.engine.dispose()


def test_needs_no_login_and_is_not_cached_as_html(client):
    response = client.get("/healthz")
    assert response.mimetype == "application/json"
    assert b"<html" not in response.data
