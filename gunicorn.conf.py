"""gunicorn settings of the web process (``Procfile.production``; docs/operations.md).

The app is loaded once, in the master, and the workers are forked from it (``preload_app``),
so they share the memory of the loaded code instead of each importing it again
(docs/performance.md, section 4). Two hooks make that sharing hold up and keep it safe:

- ``when_ready`` (master, before the first fork): load what every worker would otherwise load
  for itself on its first requests (SQLAlchemy's mapper configuration, the CLDR data of the
  portal's languages), then ``gc.freeze()``: the cyclic garbage collector of a worker leaves
  the inherited objects alone instead of writing to them, which would copy their pages.
- ``post_fork`` (each worker): drop the database connections the master's pool might hold
  without closing them (they belong to the master), as SQLAlchemy advises for forked
  processes. Redis connections and the SMTP session notice a fork by themselves.

``WEB_CONCURRENCY`` sets the number of workers, ``BIND`` the address; options on the command
line or in ``GUNICORN_CMD_ARGS`` override any setting here.
"""

import gc
import os

wsgi_app = "wsgi:app"
bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
preload_app = True
max_requests = 5000
max_requests_jitter = 500
accesslog = "-"


def when_ready(server) -> None:
    """Warm the loaded app in the master, then freeze it for the workers to share."""
    from babel import localedata
    from sqlalchemy.orm import configure_mappers

    app = server.app.wsgi()  # loaded already (preload_app)
    configure_mappers()
    for language in app.config["LANGUAGES"]:
        localedata.load(language)  # the CLDR data (cached by Babel) that formats dates, amounts
    gc.collect()
    gc.freeze()


def post_fork(server, worker) -> None:
    """A new worker starts with empty connection pools of its own."""
    from app.extensions import db

    with server.app.wsgi().app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)
