"""What every staff page shares: permission gate, htmx detection, pagination, form errors."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from django import forms
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from .errors import PermissionDenied, ValidationFailed
from .pagination import page_of

PAGE_SIZE = 50

# A date input must carry an ISO date, whatever the language's date format.
DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def requires(perm: str) -> Callable:
    """Login first (redirect), then the role's permission (403 with the shared error page)."""

    def decorate(view: Callable) -> Callable:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.has_perm_code(perm):
                raise PermissionDenied()
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


@dataclass
class ListPage:
    """One page of a list, fetched by a deferred join (see core.pagination)."""

    items: list
    number: int
    pages: int
    total: int

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages

    @property
    def first_index(self) -> int:
        return (self.number - 1) * PAGE_SIZE + 1 if self.total else 0

    @property
    def last_index(self) -> int:
        return min(self.number * PAGE_SIZE, self.total)


def _page_number(page: str | int | None, total: int, per_page: int) -> tuple[int, int]:
    """(page asked for, clamped to what exists; number of pages)."""
    pages = max(1, math.ceil(total / per_page))
    try:
        return min(max(1, int(page or 1)), pages), pages
    except (TypeError, ValueError):
        return 1, pages


def list_page(queryset: QuerySet, page: str | int | None, per_page: int = PAGE_SIZE) -> ListPage:
    total = queryset.order_by().count()
    number, pages = _page_number(page, total, per_page)
    items = page_of(queryset, (number - 1) * per_page, per_page)
    return ListPage(items=items, number=number, pages=pages, total=total)


def sequence_page(items: list, page: str | int | None, per_page: int = PAGE_SIZE) -> ListPage:
    """One page of an in-memory list (an import's stored errors, say)."""
    number, pages = _page_number(page, len(items), per_page)
    start = (number - 1) * per_page
    return ListPage(
        items=items[start : start + per_page], number=number, pages=pages, total=len(items)
    )


def add_service_errors(form: forms.Form, exc: ValidationFailed) -> None:
    """Show a service's refusal next to the fields it names, the rest above the form."""
    placed = False
    for field, messages in exc.details.items():
        name = field.removesuffix("_id") if field.removesuffix("_id") in form.fields else field
        target = name if name in form.fields else None
        for message in messages:
            form.add_error(target, message)
            placed = True
    if not placed:
        form.add_error(None, exc.message)


def redirect_after_save(request: HttpRequest, url: str) -> HttpResponse:
    """After a successful form the browser goes to the saved record, with or without htmx."""
    if is_htmx(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)
