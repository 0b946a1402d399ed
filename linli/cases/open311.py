"""Open311 GeoReport v2 (开放311 接口) at /open311/v2/, for third-party clients.

Rules of this server, beyond the specification:
- `api_key` is an ordinary `ApiToken` of a service account, one account per client
  (`linli open311_key --name NAME`, or in the admin: a user of role resident with the
  "Issue an API token" action). POST files the report as that account, source "open311".
- Reading requests needs no key, as the specification says (clients read back what they
  filed, and anyone may follow a request): every request of the city, with public fields
  only — status and its notes, service, dates, agency, position. The description, the
  address and a photo (`media_url`) are shown only once staff have marked the case public
  (`case_publish`): they are residents' words and pictures. The reporter never appears.
- Keys are of client accounts only: a staff member's API token is refused as `api_key`, in
  POST and GET alike (a key in a query string lands in access logs).
- `start_date` alone searches the 90 days from it; no search spans more.
- `jurisdiction_id` is optional; when given it must be the code of a root place (the city).
- Requests are created at once, so POST answers a `service_request_id` (the case number);
  a token is that number, and `tokens/{token}` resolves it.
- POST echoes the client's own `account_id` for the person; it is not stored.
- Only a point places a report in a grid: `address_string` alone is refused (no geocoder).
- Categories carry no extra attributes, so every service has `metadata` false.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import FileResponse, HttpRequest, HttpResponse
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from linli.core import audit
from linli.core.api import TokenAuth
from linli.core.errors import ApplicationError, NotFound, PermissionDenied, ValidationFailed
from linli.core.models import AuditAction, User
from linli.core.roles import Role
from linli.core.services import api_token_issue
from linli.places.models import Place

from .models import CLOSED_STATES, Case, CasePhoto, CaseState, Category, CloseReason, Source
from .services import case_report

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-23T00:00:00+08:00"  # when this endpoint last changed shape
DEFAULT_DAYS = 90
MAX_RESULTS = 1000
FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
ERROR_STATUS = {ValidationFailed: 400, PermissionDenied: 403, NotFound: 404}
# Rejected reports are finished from the client's point of view.
FINISHED_STATES = (*CLOSED_STATES, CaseState.REJECTED)
XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Dates a search may name: far enough either way for any real search, and within reach of
# Python's date arithmetic (years 1–9999) once the 90-day window is added or taken away.
EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2999, 12, 31, tzinfo=dt.UTC)

logger = logging.getLogger(__name__)


class Open311Error(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


# ---------------------------------------------------------------------------------------------
# Clients


@transaction.atomic
def open311_client_issue(*, actor: User | None, name: str) -> tuple[User, str]:
    """A key for an Open311 client: its service account (role resident, no password, made on
    first use) and a new token. `actor` None is the operating-system user of the command."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(
            _("Give the token a name that says which client uses it."),
            details={"name": [_("Required.")]},
        )
    # A stable username per client name, also for names slugify cannot spell (Chinese).
    stem = slugify(name)[:40] or hashlib.sha256(name.encode()).hexdigest()[:12]
    username = f"open311-{stem}"
    account = User.objects.filter(username=username).first()
    if account is None:
        account = User(username=username, role=Role.RESIDENT, display_name=name[:64])
        account.set_unusable_password()
        account.save()
        audit.record(
            actor=actor,
            action=AuditAction.CREATE,
            instance=account,
            changes={"username": [None, username], "role": [None, Role.RESIDENT]},
        )
    _token, key = api_token_issue(actor=actor, user=account, name=name)
    return account, key


def _client(request: HttpRequest, *, source: dict, required: bool = True) -> User | None:
    """The client account of the `api_key`; None when it may be and is left out."""
    key = (source.get("api_key") or "").strip()
    if not key:
        if required:
            raise Open311Error(403, _("An api_key is required."))
        return None
    actor = TokenAuth().authenticate(request, key)
    if actor is None:
        raise Open311Error(403, _("This api_key is not valid."))
    if actor.is_staff_role:
        raise Open311Error(
            403,
            _(
                "A staff member's API token is not an api_key: it would be written to access "
                "logs. Ask the administrator for a key of this client."
            ),
        )
    return actor


def _check_jurisdiction(request: HttpRequest) -> None:
    wanted = request.POST.get("jurisdiction_id") or request.GET.get("jurisdiction_id") or ""
    wanted = wanted.strip()
    if wanted and not Place.objects.filter(parent__isnull=True, code=wanted).exists():
        raise Open311Error(404, _("Unknown jurisdiction_id."))


# ---------------------------------------------------------------------------------------------
# Rendering


def _iso(value: dt.datetime | None) -> str | None:
    return timezone.localtime(value).isoformat(timespec="seconds") if value else None


def _xml_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    # Control characters a resident typed are not allowed in XML 1.0.
    return XML_INVALID.sub("", str(value))


def _to_xml(parent: ET.Element, tag: str, value: Any, item_tags: dict[str, str]) -> None:
    node = ET.SubElement(parent, tag)
    if isinstance(value, dict):
        for key, child in value.items():
            _to_xml(node, key, child, item_tags)
    elif isinstance(value, list):
        for child in value:
            _to_xml(node, item_tags[tag], child, item_tags)
    else:
        node.text = _xml_value(value)


def _render(
    fmt: str, data: Any, *, root: str, item: str = "", status: int = 200, **more_items: str
) -> HttpResponse:
    """JSON as is; XML under `root`, a list's members named by `item` (or by `more_items`
    for nested lists, keyed by the list's own tag)."""
    if fmt == "json":
        body = json.dumps(data, ensure_ascii=False)
    else:
        item_tags = {root: item, **more_items}
        top = ET.Element(root)
        for key, value in data.items() if isinstance(data, dict) else [(item, d) for d in data]:
            _to_xml(top, key, value, item_tags)
        body = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(top, encoding="unicode")
    return HttpResponse(body, status=status, content_type=FORMATS[fmt])


def open311_view(methods: list[str]) -> Callable:
    """Spec-shaped errors, the jurisdiction check, and no CSRF: clients authenticate with the
    api_key, never with a session cookie."""

    def decorate(view: Callable) -> Callable:
        @csrf_exempt
        @require_http_methods(methods)
        @wraps(view)
        def wrapped(request: HttpRequest, *args, fmt: str, **kwargs) -> HttpResponse:
            try:
                _check_jurisdiction(request)
                return view(request, *args, fmt=fmt, **kwargs)
            except Open311Error as exc:
                status, description = exc.status, exc.description
            except ApplicationError as exc:
                status = next((s for k, s in ERROR_STATUS.items() if isinstance(exc, k)), 400)
                description = exc.message
            except Exception:
                # A bug: logged with its traceback, answered in the specification's shape.
                logger.exception("Unhandled error in Open311 %s %s", request.method, request.path)
                status, description = (
                    500,
                    _("Something went wrong on our side; it has been logged."),
                )
            body = [{"code": status, "description": description}]
            return _render(fmt, body, root="errors", item="error", status=status)

        return wrapped

    return decorate


def _localised_name(category: Category) -> str:
    if translation.get_language() == "en" and category.name_en:
        return category.name_en
    return category.name


def _service(category: Category) -> dict[str, Any]:
    group = _localised_name(category.parent)
    return {
        "service_code": category.code,
        "service_name": _localised_name(category),
        "description": _("%(group)s: %(name)s")
        % {"group": group, "name": _localised_name(category)},
        "metadata": False,
        "type": "realtime",
        "keywords": ", ".join(dict.fromkeys(filter(None, [category.name, category.name_en]))),
        "group": group,
    }


def _status_notes(case: Case) -> str:
    notes = case.get_state_display()
    if case.close_reason and case.close_reason != CloseReason.FIXED:
        notes = f"{notes} ({case.get_close_reason_display()})"
    return notes


def _service_notice(case: Case) -> str:
    if case.state in FINISHED_STATES or case.due_at is None:
        return ""
    return _("Expected to be closed by %(date)s.") % {
        "date": timezone.localtime(case.due_at).strftime("%Y-%m-%d %H:%M")
    }


def _media_url(request: HttpRequest, case: Case) -> str | None:
    photo = next(iter(case.photos.all()), None)
    if photo is None:
        return None
    return request.build_absolute_uri(f"/open311/v2/media/{case.number}/{photo.pk}")


def _request(request: HttpRequest, case: Case) -> dict[str, Any]:
    """The public fields of a request; the resident's words and photo once staff made the
    case public; never who reported it."""
    public = case.is_public
    return {
        "service_request_id": case.number,
        "status": "closed" if case.state in FINISHED_STATES else "open",
        "status_notes": _status_notes(case),
        "service_name": _localised_name(case.category),
        "service_code": case.category.code,
        "description": case.description if public else None,
        "agency_responsible": case.department.name if case.department else None,
        "service_notice": _service_notice(case),
        "requested_datetime": _iso(case.reported_at),
        "updated_datetime": _iso(case.updated_at),
        "expected_datetime": _iso(case.stage_deadline),
        "address": (case.address or None) if public else None,
        "address_id": None,
        "zipcode": None,
        "lat": case.lat,
        "long": case.lng,
        "media_url": _media_url(request, case) if public else None,
    }


def _listed():
    """Every request of the city: what it shows is public (see `_request`)."""
    return Case.objects.select_related("category", "department").prefetch_related("photos")


def _services() -> Any:
    return Category.objects.filter(
        is_active=True, parent__isnull=False, parent__is_active=True
    ).select_related("parent")


def _service_for(code: str) -> Category:
    category = _services().filter(code=code).first()
    if category is None:
        raise Open311Error(404, _("Unknown service_code."))
    return category


# ---------------------------------------------------------------------------------------------
# Views


@open311_view(["GET"])
def discovery(request: HttpRequest, *, fmt: str) -> HttpResponse:
    data = {
        "changeset": CHANGESET,
        "contact": settings.DEFAULT_FROM_EMAIL,
        "key_service": _("Ask the administrator for an api_key."),
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": request.build_absolute_uri("/open311/v2/"),
                "changeset": CHANGESET,
                "type": "production",
                "formats": list(FORMATS.values()),
            }
        ],
    }
    return _render(fmt, data, root="discovery", endpoints="endpoint", formats="format")


@open311_view(["GET"])
def services(request: HttpRequest, *, fmt: str) -> HttpResponse:
    data = [_service(c) for c in _services().order_by("code")]
    return _render(fmt, data, root="services", item="service")


@open311_view(["GET"])
def service_definition(request: HttpRequest, *, fmt: str, service_code: str) -> HttpResponse:
    category = _service_for(service_code)
    data = {"service_code": category.code, "attributes": []}
    return _render(fmt, data, root="service_definition", attributes="attribute")


def _parse_date(request: HttpRequest, field: str) -> dt.datetime | None:
    raw = request.GET.get(field, "").strip()
    if not raw:
        return None
    try:
        # An unescaped "+" of the offset arrives as a space.
        value = parse_datetime(re.sub(r" (\d{2}:?\d{2})$", r"+\1", raw))
    except ValueError:
        value = None
    if value is None:
        raise Open311Error(
            400, _("%(field)s is not a W3C datetime, e.g. 2026-01-01T00:00:00Z.") % {"field": field}
        )
    value = value if timezone.is_aware(value) else timezone.make_aware(value)
    if not EARLIEST <= value <= LATEST:
        raise Open311Error(400, _("%(field)s is a date between 1900 and 2999.") % {"field": field})
    return value


def _filtered(request: HttpRequest):
    cases = _listed()
    ids = [i for i in request.GET.get("service_request_id", "").split(",") if i.strip()]
    if ids:  # the specification: a list of ids overrides every other filter
        return cases.filter(number__in=[i.strip() for i in ids])
    codes = [c.strip() for c in request.GET.get("service_code", "").split(",") if c.strip()]
    if codes:
        cases = cases.filter(category__code__in=codes)
    statuses = {s.strip() for s in request.GET.get("status", "").split(",") if s.strip()}
    if statuses - {"open", "closed"}:
        raise Open311Error(400, _("status is open or closed."))
    if statuses == {"open"}:
        cases = cases.exclude(state__in=FINISHED_STATES)
    elif statuses == {"closed"}:
        cases = cases.filter(state__in=FINISHED_STATES)
    start, end = _parse_date(request, "start_date"), _parse_date(request, "end_date")
    window = dt.timedelta(days=DEFAULT_DAYS)
    if start is None and end is None:
        start = timezone.now() - window
    elif start is None:
        start = end - window
    elif end is None:
        end = start + window
    if end is not None and start > end:
        raise Open311Error(400, _("start_date is after end_date."))
    if end is not None and end - start > window:
        raise Open311Error(400, _("A search spans at most %(days)d days.") % {"days": DEFAULT_DAYS})
    cases = cases.filter(reported_at__gte=start)
    if end is not None:
        cases = cases.filter(reported_at__lte=end)
    return cases


def _post_request(request: HttpRequest, fmt: str) -> HttpResponse:
    form = request.POST
    actor = _client(request, source=form)
    code = form.get("service_code", "").strip()
    if not code:
        raise Open311Error(400, _("service_code is required."))
    category = _service_for(code)
    lat, lng = form.get("lat", "").strip(), form.get("long", "").strip()
    if not lat or not lng:
        raise Open311Error(
            400, _("Send lat and long: an address_string alone cannot be placed in a grid.")
        )
    name = " ".join(filter(None, [form.get("first_name", ""), form.get("last_name", "")]))
    case = case_report(
        actor=actor,
        category_id=category.pk,
        description=form.get("description", ""),
        source=Source.OPEN311,
        lat=lat,
        lng=lng,
        address=form.get("address_string", ""),
        reporter_name=name.strip(),
        reporter_phone=form.get("phone", ""),
    )
    data = [
        {
            "service_request_id": case.number,
            "service_notice": _service_notice(case),
            "account_id": form.get("account_id") or None,
        }
    ]
    return _render(fmt, data, root="service_requests", item="request")


@open311_view(["GET", "POST"])
def requests(request: HttpRequest, *, fmt: str) -> HttpResponse:
    if request.method == "POST":
        return _post_request(request, fmt)
    _client(request, source=request.GET, required=False)
    cases = _filtered(request).order_by("-reported_at", "-id")[:MAX_RESULTS]
    data = [_request(request, c) for c in cases]
    return _render(fmt, data, root="service_requests", item="request")


def _one(number: str) -> Case:
    case = _listed().filter(number=number).first()
    if case is None:
        raise Open311Error(404, _("Unknown service_request_id."))
    return case


@open311_view(["GET"])
def request_detail(request: HttpRequest, *, fmt: str, service_request_id: str) -> HttpResponse:
    _client(request, source=request.GET, required=False)
    case = _one(service_request_id)
    return _render(fmt, [_request(request, case)], root="service_requests", item="request")


@open311_view(["GET"])
def token(request: HttpRequest, *, fmt: str, token: str) -> HttpResponse:
    _client(request, source=request.GET, required=False)
    case = _one(token)
    data = [{"service_request_id": case.number, "token": token}]
    return _render(fmt, data, root="service_requests", item="request")


def media(request: HttpRequest, service_request_id: str, photo_id: str) -> HttpResponse:
    """The public copy (re-encoded, without EXIF) of a photo of a case staff made public; any
    other photo is the same 404 as a missing one."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    photo = (
        CasePhoto.objects.filter(pk=photo_id, case__number=service_request_id, case__is_public=True)
        .only("public", "content_type")
        .first()
    )
    if photo is None:
        return HttpResponse(_("Not found."), status=404, content_type="text/plain; charset=utf-8")
    return FileResponse(photo.public.open("rb"), content_type=photo.content_type)
