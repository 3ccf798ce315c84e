"""Requests that only read take no write lock (SQLite).

On SQLite every transaction begins IMMEDIATE (``app._configure_sqlite``): it takes the write
lock up front, so two writers queue on the busy timeout instead of one failing at commit. A
request that only reads has no reason to queue behind a writer: in WAL mode it can read a
snapshot beside it. Safe methods (GET, HEAD, OPTIONS) only read, by HTTP's rules and by
ours; a view that only reads on a POST (the form's check page) says so with
``reads_only()`` before its first query, and the rare GET that writes with ``writes()``.
Their transactions begin DEFERRED with ``PRAGMA query_only``, so a write by mistake fails
loudly instead of racing another writer.
PostgreSQL needs none of this: its readers never wait for writers.
"""

from __future__ import annotations

from contextvars import ContextVar

from flask import Flask, request
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_READ_ONLY: ContextVar[bool] = ContextVar("read_only", default=False)


def reads_only() -> None:
    """Declare that the rest of this request only reads (call before its first query)."""
    _READ_ONLY.set(True)


def writes() -> None:
    """Declare that this request writes although its method is safe (a link from an email
    that must be a GET). Call before its first query."""
    _READ_ONLY.set(False)


def begin_sqlite(connection: Connection) -> None:
    """BEGIN a transaction on SQLite: IMMEDIATE, or DEFERRED and query-only for a request
    that only reads. (The ``begin`` event of the engine calls this.)"""
    read_only = _READ_ONLY.get()
    if connection.info.get("read_only") is not read_only:  # the pragma stays with the connection
        connection.exec_driver_sql(f"PRAGMA query_only={int(read_only)}")
        connection.info["read_only"] = read_only
    connection.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")


def init_app(app: Flask) -> None:
    @app.before_request
    def _safe_methods_only_read() -> None:
        if request.method in SAFE_METHODS:
            reads_only()

    @app.teardown_request
    def _end_read_only(_exc: BaseException | None) -> None:
        if not _READ_ONLY.get():
            return
        _READ_ONLY.set(False)  # the next request (or job) in this thread starts afresh
        # End a read-only transaction with the request. The app context usually ends with
        # it and closes the session anyway; where it lives on (tests), the next write must
        # not find a query-only transaction. (Only SQLite's transactions are marked.)
        session = db.session()
        if not session.in_transaction():
            return
        try:
            read_only = session.connection().info.get("read_only", False)
        except SQLAlchemyError:  # a failed transaction: it has to be rolled back anyway
            read_only = True
        if read_only:
            session.rollback()
