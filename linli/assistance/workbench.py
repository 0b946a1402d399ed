"""The assistance part of the workbench (工作台): applications waiting for each role, reviews
due, payment cycles to approve and supervision findings; those the person entered; and each
place's recipients and open applications."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _

from linli.core.models import User
from linli.core.roles import Perm
from linli.core.workbench import Count, Figure, Kind, Listing, Provider, Row, register

from . import benefits, payments, selectors, supervision
from .models import Application, PaymentCycle


def _row(application: Application) -> Row:
    detail = application.get_state_display()
    due = selectors.stage_due(application)
    if due is not None:
        detail += " · " + _("due %(when)s") % {"when": due.isoformat()}
    return Row(
        title=f"{application.household.number} {application.get_program_display()}",
        detail=detail,
        url=reverse("assistance:application_detail", args=[application.pk]),
        warning=selectors.warning_of(application),
    )


CYCLES_KEY = "assistance.cycles_to_approve"


def _cycle_row(cycle: PaymentCycle) -> Row:
    return Row(
        title=str(cycle),
        detail=_("%(count)s payments, %(total)s yuan")
        % {"count": cycle.payment_count, "total": cycle.total_amount},
        url=reverse("assistance:cycle_detail", args=[cycle.pk]),
    )


class AssistanceProvider(Provider):
    name = "assistance"

    def _todo_lists(self, actor: User) -> dict:
        if not (actor.is_staff_role and actor.has_perm_code(Perm.ASSISTANCE_VIEW)):
            return {}
        lists = {
            "assistance.to_accept": (
                _("Applications to accept"), Kind.WAITING, selectors.to_accept,
            ),
            "assistance.to_investigate": (
                _("Households to investigate"), Kind.WAITING, selectors.to_investigate,
            ),
            "assistance.to_notify": (
                _("Public notices to start or end"), Kind.WAITING, selectors.to_notify,
            ),
            "assistance.to_decide": (
                _("Applications to decide"), Kind.WAITING, selectors.to_decide,
            ),
            "assistance.documents": (
                _("Documents due after payment first"), Kind.WAITING, selectors.documents_due,
            ),
            "assistance.due_soon": (
                _("Applications due soon"), Kind.DUE_SOON, selectors.due_soon_for,
            ),
            "assistance.overdue": (
                _("Overdue applications"), Kind.OVERDUE, selectors.overdue_for,
            ),
            "assistance.sampled": (
                _("Sampled by the district"), Kind.SUPERVISED, selectors.sampled,
            ),
        }  # fmt: skip
        return {
            key: entry for key, entry in lists.items() if not entry[2](actor=actor).query.is_empty()
        }

    def _started_lists(self, actor: User) -> dict:
        if not actor.has_perm_code(Perm.ASSISTANCE_APPLY):
            return {}
        label = _("My applications") if actor.is_resident else _("Applications I entered")
        return {"assistance.entered": (label, Kind.WAITING, selectors.entered_by)}

    @staticmethod
    def _counts(actor: User, lists: dict) -> list[Count]:
        return [
            Count(key, label, select(actor=actor).order_by().count(), kind)
            for key, (label, kind, select) in lists.items()
        ]

    def todos(self, actor: User) -> list[Count]:
        counts = self._counts(actor, self._todo_lists(actor))
        if actor.is_staff_role and actor.has_perm_code(Perm.ASSISTANCE_VIEW):
            counts += [c for c in benefits.workbench_counts(actor) if c.count]
            counts += [c for c in supervision.workbench_counts(actor) if c.count]
        cycles = payments.cycles_to_approve(actor=actor).order_by().count()
        if cycles:
            counts.append(Count(CYCLES_KEY, _("Payment cycles to approve"), cycles, Kind.WAITING))
        return counts

    def started(self, actor: User) -> list[Count]:
        return self._counts(actor, self._started_lists(actor))

    def recent_started(self, actor: User, limit: int) -> list[Row]:
        if not actor.has_perm_code(Perm.ASSISTANCE_APPLY):
            return []
        return [_row(a) for a in selectors.entered_by(actor=actor)[:limit]]

    def figures(self, actor: User, place_id: int, place_path: str) -> list[Figure]:
        if not (actor.is_staff_role and actor.has_perm_code(Perm.ASSISTANCE_VIEW)):
            return []
        counts = selectors.application_counts(actor=actor, place_path=place_path)
        queue = reverse("assistance:applications")
        return [
            Figure(
                _("assistance recipients"),
                selectors.recipient_count(actor=actor, place_path=place_path),
            ),
            Figure(_("open applications"), counts["open"], f"{queue}?place={place_id}"),
            Figure(
                _("overdue applications"),
                counts["overdue"],
                f"{queue}?place={place_id}&overdue=on",
            ),
        ]

    def listing(self, actor: User, key: str) -> Listing | None:
        if key == CYCLES_KEY:
            return Listing(
                label=_("Payment cycles to approve"),
                queryset=payments.cycles_to_approve(actor=actor),
                row=_cycle_row,
            )
        other = benefits.workbench_listing(actor, key) or supervision.workbench_listing(actor, key)
        if other is not None:
            return other
        found = self._todo_lists(actor).get(key) or self._started_lists(actor).get(key)
        if found is None:
            return None
        label, _kind, select = found
        return Listing(label=label, queryset=select(actor=actor), row=_row)


register(AssistanceProvider())
