"""A database that is locked or unreachable answers 503 with a retry hint, not 500.

A page gets a plain page (rendered without the request's context, so without touching the
database again), an htmx request the usual error partial, the JSON API and JSON clients the one
error shape (`core/errors.py`), each with a Retry-After header.
"""

from __future__ import annotations

import logging
import sqlite3

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

from .errors import ServiceUnavailable

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


def unavailable_response(request: HttpRequest, *, as_json: bool) -> HttpResponse:
    error = ServiceUnavailable()
    if as_json:
        response = JsonResponse(error.as_dict(), status=error.status)
    elif request.headers.get("HX-Request") == "true":
        response = HttpResponse(render_to_string("core/_error.html", {"error": error}), status=503)
        # htmx ignores error responses unless told where to put them.
        response["HX-Retarget"] = "#messages"
        response["HX-Reswap"] = "innerHTML"
    else:
        html = render_to_string("core/unavailable.html", {"error": error})
        response = HttpResponse(html, status=error.status)
    response["Retry-After"] = str(error.retry_after)
    return response


def log_outage(request: HttpRequest, exc: BaseException) -> None:
    # The path only: a query string may carry personal data.
    logger.error("database unavailable on %s %s: %s", request.method, request.path, exc)


class DatabaseUnavailableMiddleware:
    """Turns a database outage raised while a view or its template runs into a 503."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not is_database_outage(exception):
            return None
        log_outage(request, exception)
        as_json = request.headers.get("Accept", "").startswith("application/json")
        return unavailable_response(request, as_json=as_json)
