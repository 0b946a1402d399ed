"""The workbench (工作台): each person's home, and the list behind each of its counts."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from linli.core.errors import NotFound
from linli.core.pages import list_page
from linli.core.roles import Perm
from linli.people.selectors import own_household

from . import selectors


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    started, recent = selectors.started(actor=user)
    if user.is_resident:
        me, members = own_household(actor=user)
        context = {
            "me": me,
            "members": members,
            "started": started,
            "recent": recent,
            "can_report": user.has_perm_code(Perm.CASES_REPORT),
        }
        return render(request, "workbench/home_resident.html", context)
    context = {
        "todos": selectors.todos(actor=user),
        "started": started,
        "recent": recent,
        "areas": selectors.area_figures(actor=user),
        "my_recent": selectors.my_recent_changes(actor=user),
        "reveals_today": selectors.reveals_today(actor=user),
        "can_view_people": user.has_perm_code(Perm.PEOPLE_VIEW),
    }
    return render(request, "workbench/home_staff.html", context)


@login_required
def todo_list(request: HttpRequest) -> HttpResponse:
    """The list behind one count of the workbench, `?list=cases.overdue` (ids only, no names)."""
    key = request.GET.get("list", "")
    found = selectors.listing(actor=request.user, key=key)
    if found is None:
        raise NotFound()
    page = list_page(found.queryset, request.GET.get("page"))
    rows = [found.row(item) for item in page.items]
    context = {"key": key, "label": found.label, "page": page, "rows": rows}
    return render(request, "workbench/list.html", context)
