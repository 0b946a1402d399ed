"""The cases' part of the workbench (工作台): to-dos, the person's reports, open-case figures."""

from __future__ import annotations

from django.urls import reverse
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext as _

from linli.core.models import User
from linli.core.roles import Perm
from linli.core.workbench import Count, Figure, Kind, Listing, Provider, Row, register

from . import selectors
from .models import Case


def _row(case: Case) -> Row:
    # Several communities have a 第3网格: the grid goes with its community.
    place = f"{case.grid.parent.name} › {case.grid.name}" if case.grid.parent else case.grid.name
    detail = f"{case.get_state_display()} · {place}"
    if case.is_open and case.stage_deadline:
        deadline = date_format(localtime(case.stage_deadline), "m-d H:i")
        detail += " · " + _("due %(when)s") % {"when": deadline}
    return Row(
        title=f"{case.number} {case.category.name}",
        detail=detail,
        url=reverse("cases:detail", args=[case.pk]),
        warning=case.warning if case.is_open else 0,
    )


class CasesProvider(Provider):
    name = "cases"

    def _todo_lists(self, actor: User) -> dict:
        if not (actor.is_staff_role and actor.has_perm_code(Perm.CASES_VIEW)):
            return {}
        return {
            "cases.waiting": (_("Cases waiting for me"), Kind.WAITING, selectors.waiting_for),
            "cases.due_soon": (_("Cases due soon"), Kind.DUE_SOON, selectors.due_soon),
            "cases.overdue": (_("My overdue cases"), Kind.OVERDUE, selectors.overdue_for),
            "cases.supervised": (_("Under supervision"), Kind.SUPERVISED, selectors.supervised),
        }

    def _started_lists(self, actor: User) -> dict:
        if not actor.has_perm_code(Perm.CASES_REPORT):
            return {}
        return {"cases.reported": (_("Problems I reported"), Kind.WAITING, selectors.reported_by)}

    @staticmethod
    def _counts(actor: User, lists: dict) -> list[Count]:
        return [
            Count(key, label, select(actor=actor).order_by().count(), kind)
            for key, (label, kind, select) in lists.items()
        ]

    def todos(self, actor: User) -> list[Count]:
        return self._counts(actor, self._todo_lists(actor))

    def started(self, actor: User) -> list[Count]:
        return self._counts(actor, self._started_lists(actor))

    def recent_started(self, actor: User, limit: int) -> list[Row]:
        if not actor.has_perm_code(Perm.CASES_REPORT):
            return []
        return [_row(case) for case in selectors.reported_by(actor=actor)[:limit]]

    def figures(self, actor: User, place_id: int, place_path: str) -> list[Figure]:
        if not actor.has_perm_code(Perm.CASES_VIEW):
            return []
        counts = selectors.case_counts(actor=actor, place_path=place_path)
        # The queues list the whole jurisdiction: they are this place's list only when the
        # person is bound to this one place.
        queue = reverse("cases:queue") if actor.scope_paths == [place_path] else ""
        return [
            Figure(_("open cases"), counts["open"], f"{queue}?queue=open" if queue else ""),
            Figure(_("cases due soon"), counts["yellow"]),
            Figure(_("overdue cases"), counts["red"], f"{queue}?queue=overdue" if queue else ""),
        ]

    def listing(self, actor: User, key: str) -> Listing | None:
        found = self._todo_lists(actor).get(key) or self._started_lists(actor).get(key)
        if found is None:
            return None
        label, _kind, select = found
        return Listing(label=label, queryset=select(actor=actor), row=_row)


register(CasesProvider())
