"""Operational endpoints: health check."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.jobs.outbox import status_summary

bp = Blueprint("ops", __name__)


def redis_connection() -> Redis:
    """A fresh client with short timeouts: a health check must answer even if Redis hangs."""
    return Redis.from_url(
        current_app.config["REDIS_URL"], socket_connect_timeout=1, socket_timeout=1
    )


@bp.get("/healthz")
def healthz():
    checks: dict[str, object] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError as exc:
        db.session.rollback()
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        redis_connection().ping()
        checks["redis"] = "ok"
    except (RedisError, OSError) as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    healthy = all(v == "ok" for v in checks.values())
    outbox_age = None
    if checks["database"] == "ok":
        outbox_age = status_summary()["oldest_waiting_seconds"]
    return jsonify(
        status="ok" if healthy else "error", checks=checks, outbox_oldest_waiting_seconds=outbox_age
    ), (200 if healthy else 503)
