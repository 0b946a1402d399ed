"""A database that is locked or unreachable answers 503 with a retry hint, not 500: what
counts as an outage. Pages (core/middleware.py) and the API (core/api.py) render it as the
`ServiceUnavailable` error: a plain page rendered without the request's context (so without
touching the database again), the htmx partial, or the one JSON shape, with Retry-After.
"""

from __future__ import annotations

import logging
import sqlite3

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest

logger = logging.getLogger(__name__)

# SQLite: another connection holds the write lock past the busy timeout, or the file is missing.
SQLITE_OUTAGES = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN")
# PostgreSQL SQLSTATE classes: connection exception, insufficient resources (too many
# connections), operator intervention (shutting down, starting up), lock not available.
POSTGRES_OUTAGES = ("08", "53", "57P", "55P03")


def is_database_outage(exc: BaseException) -> bool:
    """True for a database that is busy, locked or unreachable: worth retrying later. Anything
    else (a missing table, a broken query) stays a server error."""
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    cause = exc.__cause__
    if isinstance(cause, sqlite3.Error):
        return (getattr(cause, "sqlite_errorname", "") or "").startswith(SQLITE_OUTAGES)
    if cause is None or not hasattr(cause, "sqlstate"):
        # Django's own "connection already closed".
        return isinstance(exc, InterfaceError)
    # psycopg gives no SQLSTATE when the server could not be reached or the connection broke.
    return cause.sqlstate is None or cause.sqlstate.startswith(POSTGRES_OUTAGES)


def log_outage(request: HttpRequest, exc: BaseException) -> None:
    # The path only: a query string may carry personal data.
    logger.error("database unavailable on %s %s: %s", request.method, request.path, exc)
