"""Where a change came from (source address), carried from the request to the audit log."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

_source: contextvars.ContextVar[str] = contextvars.ContextVar("linli_source", default="system")


def current_source() -> str:
    return _source.get()


@contextmanager
def acting_from(source: str) -> Iterator[None]:
    """Used by commands and tasks: `with acting_from("task:import"): ...`."""
    token = _source.set(source)
    try:
        yield
    finally:
        _source.reset(token)


def client_address(request) -> str:
    if getattr(settings, "LINLI_TRUST_X_FORWARDED_FOR", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip()[:64]
    return request.META.get("REMOTE_ADDR", "")[:64] or "unknown"


class RequestSourceMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with acting_from(client_address(request)):
            return self.get_response(request)


# Command-centre pages (指挥中心) in the menus of the roles that watch figures and maps; the
# pages themselves check the permission.
_STATISTICS_ROLES = frozenset(
    {"command_operator", "street_officer", "community_worker", "auditor", "admin"}
)
_MAP_ROLES = _STATISTICS_ROLES | {"grid_worker"}
_RESIDENTS = frozenset({"resident"})
_POLICY_ROLES = frozenset({"civil_affairs", "street_officer", "auditor", "admin"})


def _nav_items(request) -> list[dict]:
    from django.urls import reverse
    from django.utils.translation import gettext as _

    from .roles import Perm

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    everyone = (None, None)
    entries = [
        ("home", _("Workbench") if user.is_staff_role else _("Home"), everyone),
        ("places:tree", _("Places"), (Perm.PLACES_VIEW, None)),
        ("people:households", _("Households"), (Perm.PEOPLE_VIEW, None)),
        ("people:persons", _("Persons"), (Perm.PEOPLE_VIEW, None)),
        ("people:import_new", _("Import"), (Perm.PEOPLE_IMPORT, None)),
        ("people:transfers", _("Transfer requests"), (Perm.PEOPLE_CHANGE, None)),
        ("cases:queue", _("Cases"), (Perm.CASES_VIEW, None)),
        ("cases:statistics", _("Case statistics"), (Perm.CASES_VIEW, _STATISTICS_ROLES)),
        ("cases:map", _("Map of open cases"), (Perm.CASES_VIEW, _MAP_ROLES)),
        ("cases:report", _("Report a problem"), (Perm.CASES_REPORT, None)),
        ("cases:mine", _("My reports"), (Perm.CASES_REPORT, frozenset({"resident"}))),
        ("assistance:applications", _("Assistance applications"), (Perm.ASSISTANCE_VIEW, None)),
        ("assistance:apply", _("Apply for assistance"), (Perm.ASSISTANCE_APPLY, _RESIDENTS)),
        ("assistance:benefits", _("Recipients"), (Perm.ASSISTANCE_VIEW, None)),
        ("assistance:assess", _("Eligibility check"), (Perm.ASSISTANCE_VIEW, None)),
        ("assistance:cycles", _("Payment cycles"), (Perm.ASSISTANCE_PAY, None)),
        ("assistance:findings", _("Fund supervision"), (Perm.ASSISTANCE_SUPERVISE, None)),
        (
            "assistance:statistics",
            _("Assistance statistics"),
            (Perm.ASSISTANCE_VIEW, _STATISTICS_ROLES | {"civil_affairs"}),
        ),
        ("assistance:policies", _("Assistance policies"), (Perm.ASSISTANCE_VIEW, _POLICY_ROLES)),
        ("assistance:staff_relatives", _("Declared relatives"), (Perm.ASSISTANCE_VIEW, None)),
        ("monitoring:overview", _("Monitoring overview"), (Perm.MONITORING_VIEW, None)),
        ("monitoring:alerts", _("Alerts"), (Perm.MONITORING_VIEW, None)),
        ("monitoring:visits", _("Home visits"), (Perm.MONITORING_VISIT, None)),
        ("monitoring:keys", _("Key households"), (Perm.MONITORING_VIEW, None)),
        ("monitoring:rounds", _("Screening rounds"), (Perm.MONITORING_SCREEN, None)),
        ("monitoring:signals", _("Risk signals"), (Perm.MONITORING_IMPORT, None)),
        ("audit", _("Audit log"), (Perm.AUDIT_VIEW, None)),
    ]
    items = []
    for name, label, (perm, roles) in entries:
        if perm is not None and not user.has_perm_code(perm):
            continue
        if roles is not None and user.role not in roles and not user.is_superuser:
            continue
        items.append({"url": reverse(name), "label": label, "current": False})
    # The page belongs to the longest menu address it starts with (/cases/map/, not /cases/).
    matches = [
        i
        for i in items
        if request.path == i["url"] or (i["url"] != "/" and request.path.startswith(i["url"]))
    ]
    if matches:
        max(matches, key=lambda i: len(i["url"]))["current"] = True
    return items


def ui(request) -> dict:
    """Template context shared by every page: display mode, map tiles and the role's menu."""
    return {
        "elder_mode": request.COOKIES.get("elder_mode") == "1",
        "map_tile_url": settings.LINLI_MAP_TILE_URL,
        "nav_items": _nav_items(request),
    }
