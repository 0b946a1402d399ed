"""API plumbing shared by every router: authentication, the error shape, pagination, audit."""

import datetime as dt
import json
import logging
import re
from functools import cache
from typing import Annotated, Any

from django.db import InterfaceError, OperationalError, connection, connections
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.pagination import LimitOffsetPagination, paginate
from ninja.parser import Parser
from ninja.security import HttpBearer, django_auth
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from .errors import ApplicationError, PermissionDenied, ServiceUnavailable, ValidationFailed
from .middleware import with_retry_after
from .models import ApiToken, AuditEntry, User
from .pagination import page_of
from .roles import Perm
from .unavailable import is_database_outage, log_outage

logger = logging.getLogger(__name__)

# Bounds of what the database can hold, stated in the OpenAPI document, so an id or a date out
# of range is a 422 naming the field rather than an overflow deep in a query (SQLite refuses
# integers of 2^63 and more; date arithmetic leaves Python's years 1–9999).
MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
MIN_DATE = dt.date(1900, 1, 1)
MAX_DATE = dt.date(2999, 12, 31)


def _iso_date(value: Any) -> Any:
    """Dates as YYYY-MM-DD only: pydantic would also read a number as a Unix timestamp, so
    `date_to=0` would quietly mean 1970-01-01."""
    if isinstance(value, dt.date) or (
        isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)
    ):
        return value
    raise PydanticCustomError("date_parsing", "Enter a date as YYYY-MM-DD.")


Date = Annotated[
    dt.date, BeforeValidator(_iso_date), Field(ge=MIN_DATE, le=MAX_DATE, examples=["2026-01-01"])
]
# No list of this system comes near a billion rows; the bound keeps offset + limit an integer
# both databases take.
MAX_OFFSET = 10**9


class TokenAuth(HttpBearer):
    """`Authorization: Bearer ll_…` — a token issued to an API client (hash stored only)."""

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        now = timezone.now()
        found = _user_of_token(ApiToken.hash_key(token), stamped_before=now - dt.timedelta(hours=1))
        if found is None:
            return None
        user, token_id, unstamped_for_an_hour = found
        if not user.is_active:
            return None
        # Coarse last-used stamp: one write an hour per token, not one per request.
        if unstamped_for_an_hour:
            ApiToken.objects.filter(pk=token_id).update(last_used_at=now)
        request.user = user
        return user


def _user_of_token(key_hash: str, *, stamped_before: dt.datetime) -> tuple[User, int, bool] | None:
    """The token's user, the token's id and whether it was last stamped before the given time,
    in one query. Every API call runs it: the ORM took ~1 ms of CPU to build the join each time
    and a raw queryset ~0.15 ms to map the row."""
    sql, attnames, converters = _token_query(connection.alias)
    with connection.cursor() as cursor:
        cursor.execute(sql, [connection.ops.adapt_datetimefield_value(stamped_before), key_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row[: len(attnames)])
    for i, column, functions in converters:
        for convert in functions:
            values[i] = convert(values[i], column, connection)
    return User.from_db(connection.alias, attnames, values), row[-2], bool(row[-1])


@cache
def _token_query(alias: str) -> tuple[str, list[str], list[tuple[int, Any, list]]]:
    """The SQL (columns named, so a prepared statement survives a column added later), the
    user's field names and, per column that needs one, the database's value converters."""
    db = connections[alias]
    quote = db.ops.quote_name
    fields = User._meta.concrete_fields
    sql = (
        f"SELECT {', '.join('u.' + quote(f.column) for f in fields)}, t.{quote('id')}, "
        f"(t.{quote('last_used_at')} IS NULL OR t.{quote('last_used_at')} < %s) "
        f"FROM {quote(User._meta.db_table)} u JOIN {quote(ApiToken._meta.db_table)} t "
        f"ON t.{quote('user_id')} = u.{quote('id')} "
        f"WHERE t.{quote('key_hash')} = %s AND t.{quote('revoked_at')} IS NULL"
    )
    converters = []
    for i, field in enumerate(fields):
        column = field.get_col("u")
        functions = db.ops.get_db_converters(column) + field.get_db_converters(db)
        if functions:
            converters.append((i, column, functions))
    return sql, [f.attname for f in fields], converters


# Token for clients; the session (with CSRF) for htmx/JS on our own pages.
AUTH = [TokenAuth(), django_auth]


def actor_of(request: HttpRequest) -> User:
    return request.auth


def changes_of(payload: Schema) -> dict[str, Any]:
    """The fields a PATCH actually sent; refuses an empty one."""
    changes = payload.dict(exclude_unset=True)
    if not changes:
        raise ValidationFailed(_("Send at least one field to change."))
    return changes


class Page(LimitOffsetPagination):
    """limit/offset with `count`; limit at most 200; rows fetched by a deferred join."""

    class Input(Schema):
        limit: int = Field(50, ge=1, le=200)
        offset: int = Field(0, ge=0, le=MAX_OFFSET)

    def paginate_queryset(self, queryset, pagination: Input, request, **params):
        limit = min(pagination.limit, self.max_limit)
        if not isinstance(queryset, QuerySet):
            return super().paginate_queryset(queryset, pagination, request, **params)
        return {
            "items": page_of(queryset, pagination.offset, limit),
            "count": queryset.count(),
        }


class ErrorItem(Schema):
    field: str
    message: str


class ErrorOut(Schema):
    detail: str
    code: str
    errors: list[ErrorItem] = []


ERRORS = {400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}

_PYDANTIC_MESSAGES = {
    "missing": lambda ctx: _("This field is required."),
    "string_too_long": lambda ctx: (
        _("Use at most %(n)s characters.") % {"n": ctx.get("max_length")}
    ),
    "string_too_short": lambda ctx: (
        _("Use at least %(n)s characters.") % {"n": ctx.get("min_length")}
    ),
    "int_parsing": lambda ctx: _("Enter a whole number."),
    "int_type": lambda ctx: _("Enter a whole number."),
    "float_parsing": lambda ctx: _("Enter a number."),
    "decimal_parsing": lambda ctx: _("Enter an amount such as 1234.50."),
    "decimal_max_places": lambda ctx: _("Use at most two decimal places (fen)."),
    "date_from_datetime_parsing": lambda ctx: _("Enter a date as YYYY-MM-DD."),
    "date_parsing": lambda ctx: _("Enter a date as YYYY-MM-DD."),
    "date_type": lambda ctx: _("Enter a date as YYYY-MM-DD."),
    "bool_parsing": lambda ctx: _("Enter true or false."),
    "enum": lambda ctx: _("Choose one of: %(choices)s.") % {"choices": ctx.get("expected")},
    "literal_error": lambda ctx: (
        _("Choose one of: %(choices)s.") % {"choices": ctx.get("expected")}
    ),
    "greater_than_equal": lambda ctx: _("Must be at least %(n)s.") % {"n": ctx.get("ge")},
    "less_than_equal": lambda ctx: _("Must be at most %(n)s.") % {"n": ctx.get("le")},
    "json_invalid": lambda ctx: _("The request body is not valid JSON."),
    "model_attributes_type": lambda ctx: _("Send a JSON object."),
    "dict_type": lambda ctx: _("Send a JSON object."),
    "extra_forbidden": lambda ctx: _("This field is not accepted."),
    "string_type": lambda ctx: _("Enter text."),
    "int_from_float": lambda ctx: _("Enter a whole number."),
    "int_parsing_size": lambda ctx: _("Enter a whole number."),
    "float_type": lambda ctx: _("Enter a number."),
    "finite_number": lambda ctx: _("Enter a number."),
    "decimal_type": lambda ctx: _("Enter an amount such as 1234.50."),
    "decimal_max_digits": lambda ctx: _("Use at most %(n)s digits.") % {"n": ctx.get("max_digits")},
    "decimal_whole_digits": lambda ctx: _("The amount is too large."),
    "bool_type": lambda ctx: _("Enter true or false."),
    "list_type": lambda ctx: _("Send a list."),
    "too_long": lambda ctx: _("Send at most %(n)s items.") % {"n": ctx.get("max_length")},
    "greater_than": lambda ctx: _("Must be more than %(n)s.") % {"n": ctx.get("gt")},
    "less_than": lambda ctx: _("Must be less than %(n)s.") % {"n": ctx.get("lt")},
    "string_pattern_mismatch": lambda ctx: (
        _("Use the form %(pattern)s.") % {"pattern": ctx.get("pattern")}
    ),
}

_LOCATIONS = {"body", "query", "path", "form", "file", "payload", "header", "cookie", "filters"}


def _field_name(loc: tuple | list) -> str:
    parts = [str(p) for p in loc if str(p) not in _LOCATIONS]
    return ".".join(parts) or "__all__"


def validation_error_body(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """Every problem of the request at once: one item per field and problem, and a detail
    that names them all, so a client fixes its request in one go."""
    items = []
    for err in errors:
        make = _PYDANTIC_MESSAGES.get(err.get("type", ""))
        # Pydantic's own words (English) only for a kind of problem not translated above.
        message = make(err.get("ctx") or {}) if make else err.get("msg") or _("Invalid value.")
        items.append({"field": _field_name(err.get("loc", ())), "message": str(message)})
    if not items:
        items = [{"field": "__all__", "message": str(_("Invalid input."))}]
    detail = "; ".join(
        item["message"] if item["field"] == "__all__" else f"{item['field']}: {item['message']}"
        for item in items
    )
    return {"detail": detail, "code": "validation_error", "errors": items}


class UnsupportedMediaType(ApplicationError):
    status = 415
    code = "unsupported_media_type"


class JsonParser(Parser):
    """Bodies of JSON endpoints must say they are JSON (`application/json`, or a `+json`
    type): a form or a file sent to them is refused with 415 rather than guessed at.
    Multipart routes (photos, imports) read their fields through Django and never come here."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        kind = request.content_type or ""
        if kind != "application/json" and not (
            kind.startswith("application/") and kind.endswith("+json")
        ):
            raise UnsupportedMediaType(
                _("Send the body as JSON with 'Content-Type: application/json'."),
                details={"Content-Type": [_("Not a JSON content type: %(t)s.") % {"t": kind}]},
            )
        body = json.loads(request.body)
        # Ninja's schemas read any value by its attributes: a list or a number would pass as
        # an object with every field left at its default.
        if not isinstance(body, dict):
            message = _("Send a JSON object.")
            raise ValidationFailed(message, details={"body": [message]})
        _refuse_nul(body)
        return body

    def parse_querydict(self, data, list_fields, request: HttpRequest) -> dict[str, Any]:
        values = super().parse_querydict(data, list_fields, request)
        _refuse_nul(values)
        return values


def _fields_with_nul(value: Any, path: str = "") -> list[str]:
    if isinstance(value, str):
        return [path or "__all__"] if "\x00" in value else []
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return []
    return [
        field
        for key, item in items
        for field in _fields_with_nul(item, f"{path}.{key}" if path else str(key))
    ]


def _refuse_nul(values: dict[str, Any]) -> None:
    """A NUL character is in no name, search or note, and PostgreSQL cannot even compare text
    with one: refused as a field error (422) before it reaches a query."""
    fields = _fields_with_nul(values)
    if fields:
        message = _("Remove the NUL character (U+0000) from this value.")
        raise ValidationFailed(message, details={field: [message] for field in fields})


def _body_error(exc: HttpError) -> ApplicationError | None:
    """Ninja wraps whatever the parser raised in a plain 400 `HttpError`; the cause says what
    went wrong in the one error shape."""
    cause = exc.__cause__
    if isinstance(cause, ApplicationError):
        return cause
    if isinstance(cause, ValueError):  # JSONDecodeError, or a body that is not UTF-8
        message = _("The request body is not valid JSON.")
        if isinstance(cause, json.JSONDecodeError):
            message = _("The request body is not valid JSON (line %(line)d, column %(col)d).") % {
                "line": cause.lineno,
                "col": cause.colno,
            }
        return ApplicationError(message, code="invalid_json", details={"body": [message]})
    return None


def server_error_body() -> dict[str, Any]:
    return {
        "detail": _("Something went wrong on our side; it has been logged. Please try again."),
        "code": "server_error",
        "errors": [],
    }


def install_error_handlers(api) -> None:
    @api.exception_handler(ApplicationError)
    def application_error(request, exc: ApplicationError):
        return with_retry_after(api.create_response(request, exc.as_dict(), status=exc.status), exc)

    @api.exception_handler(NinjaValidationError)
    def validation_error(request, exc: NinjaValidationError):
        return api.create_response(request, validation_error_body(exc.errors), status=422)

    @api.exception_handler(Http404)
    def not_found(request, exc):
        return api.create_response(
            request, {"detail": _("Not found."), "code": "not_found", "errors": []}, status=404
        )

    @api.exception_handler(AuthenticationError)
    def unauthenticated(request, exc):
        return api.create_response(
            request,
            {
                "detail": _("Sign in, or send an API token as 'Authorization: Bearer <token>'."),
                "code": "unauthenticated",
                "errors": [],
            },
            status=401,
        )

    @api.exception_handler(HttpError)
    def http_error(request, exc: HttpError):
        cause = _body_error(exc)
        if cause is not None:
            return application_error(request, cause)
        return api.create_response(
            request, {"detail": str(exc), "code": "error", "errors": []}, status=exc.status_code
        )

    @api.exception_handler(Exception)
    def server_error(request, exc: Exception):
        # Whatever escaped is a bug: logged with its traceback (the path carries ids only,
        # never personal data), answered in the one error shape, never an HTML page.
        logger.error("Unhandled error in %s %s", request.method, request.path, exc_info=exc)
        return api.create_response(request, server_error_body(), status=500)

    @api.exception_handler(OperationalError)
    @api.exception_handler(InterfaceError)
    def database_outage(request, exc):
        if not is_database_outage(exc):
            return server_error(request, exc)
        log_outage(request, exc)
        return application_error(request, ServiceUnavailable())


# --- audit -------------------------------------------------------------------------------------

router = Router(tags=["audit"])


class AuditEntryOut(Schema):
    id: int
    at: dt.datetime
    actor: str = Field(alias="actor_label")
    source: str
    action: str
    object_type: str
    object_id: str
    object_label: str
    changes: dict


class AuditFilter(Schema):
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    actor: str = ""
    date_from: Date | None = None
    date_to: Date | None = None


class MeOut(Schema):
    username: str
    role: str
    display_name: str
    places: list[int]
    permissions: list[str]


@router.get("/me", response=MeOut, tags=["auth"])
def me(request):
    from .roles import ROLE_PERMISSIONS

    user = actor_of(request)
    perms = sorted(ROLE_PERMISSIONS.get(user.role, frozenset()))
    return {
        "username": user.username,
        "role": user.role,
        "display_name": str(user),
        "places": list(user.places.values_list("id", flat=True)),
        "permissions": perms,
    }


@router.get("/audit", response={200: list[AuditEntryOut], **ERRORS})
@paginate(Page)
def audit_list(request, filters: Query[AuditFilter]):
    """The audit log of the caller's jurisdiction (auditor and administrator)."""
    actor = actor_of(request)
    if not actor.has_perm_code(Perm.AUDIT_VIEW):
        raise PermissionDenied()
    qs = AuditEntry.objects.restrict(actor)
    if filters.action:
        qs = qs.filter(action=filters.action)
    if filters.object_type:
        qs = qs.filter(object_type=filters.object_type)
    if filters.object_id:
        qs = qs.filter(object_id=filters.object_id)
    if filters.actor:
        qs = qs.filter(actor_label=filters.actor)
    if filters.date_from:
        qs = qs.filter(at__date__gte=filters.date_from)
    if filters.date_to:
        qs = qs.filter(at__date__lte=filters.date_to)
    return qs
