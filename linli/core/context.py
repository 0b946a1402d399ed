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


def _nav_items(request) -> list[dict]:
    from django.urls import reverse
    from django.utils.translation import gettext as _

    from .roles import Perm

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    entries = [("home", _("Home"), None)]
    entries += [
        ("places:tree", _("Places"), Perm.PLACES_VIEW),
        ("people:households", _("Households"), Perm.PEOPLE_VIEW),
        ("people:persons", _("Persons"), Perm.PEOPLE_VIEW),
        ("people:import_new", _("Import"), Perm.PEOPLE_IMPORT),
        ("cases:queue", _("Cases"), Perm.CASES_VIEW),
        ("cases:report", _("Report a problem"), Perm.CASES_REPORT),
        ("audit", _("Audit log"), Perm.AUDIT_VIEW),
    ]
    items = []
    for name, label, perm in entries:
        if perm is not None and not user.has_perm_code(perm):
            continue
        url = reverse(name)
        current = request.path == url if name == "home" else request.path.startswith(url)
        items.append({"url": url, "label": label, "current": current})
    return items


def ui(request) -> dict:
    """Template context shared by every page: display mode, map tiles and the role's menu."""
    return {
        "elder_mode": request.COOKIES.get("elder_mode") == "1",
        "map_tile_url": settings.LINLI_MAP_TILE_URL,
        "nav_items": _nav_items(request),
    }
