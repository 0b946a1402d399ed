"""API plumbing shared by every router: authentication, the error shape, pagination, audit."""

import datetime as dt
from functools import cache
from typing import Any

from django.db import connection, connections
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.pagination import LimitOffsetPagination, paginate
from ninja.security import HttpBearer, django_auth

from .errors import ApplicationError, PermissionDenied, ValidationFailed
from .models import ApiToken, AuditEntry, User
from .pagination import page_of
from .roles import Perm


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
        offset: int = Field(0, ge=0)

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
}

_LOCATIONS = {"body", "query", "path", "form", "file", "payload", "header", "cookie", "filters"}


def _field_name(loc: tuple | list) -> str:
    parts = [str(p) for p in loc if str(p) not in _LOCATIONS]
    return ".".join(parts) or "__all__"


def validation_error_body(errors: list[dict[str, Any]]) -> dict[str, Any]:
    items = []
    for err in errors:
        make = _PYDANTIC_MESSAGES.get(err.get("type", ""))
        message = make(err.get("ctx") or {}) if make else err.get("msg", _("Invalid value."))
        items.append({"field": _field_name(err.get("loc", ())), "message": str(message)})
    first = items[0] if items else {"field": "", "message": _("Invalid input.")}
    detail = (
        f"{first['field']}: {first['message']}" if first["field"] != "__all__" else first["message"]
    )
    return {"detail": detail, "code": "validation_error", "errors": items}


def install_error_handlers(api) -> None:
    @api.exception_handler(ApplicationError)
    def application_error(request, exc: ApplicationError):
        return api.create_response(request, exc.as_dict(), status=exc.status)

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
        return api.create_response(
            request, {"detail": str(exc), "code": "error", "errors": []}, status=exc.status_code
        )


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
    date_from: dt.date | None = None
    date_to: dt.date | None = None


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
