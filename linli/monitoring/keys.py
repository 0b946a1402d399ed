"""Key households (重点户): households followed up on a schedule (monthly by default) until
released with a reason; their counts and overdue follow-ups per grid.

Services `key_household_add`, `follow_up_record` and `key_household_release` take the actor,
find the rows within its reach (404 outside), check the role (403) and the record's state (409),
and write the change with its audit entry in one transaction. A follow-up carries an
idempotency key: sent again on a bad connection it is answered with the one already stored.

Reads are selectors taking the actor. Counts per grid are one grouped query over the key
households of the jurisdiction (`grid_path` is stored on each row), whatever their number; the
periodic job (keys_tasks.py) marks overdue follow-ups with two UPDATEs.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import re
import tempfile
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook

from linli.core import audit
from linli.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from linli.core.masking import scrub
from linli.core.models import AuditAction, AuditEntry, User
from linli.core.roles import Perm
from linli.core.text import control_character, control_character_message, excel_safe
from linli.people.models import Household, RecordStatus, jurisdiction_path
from linli.places.models import Place

from .models import (
    OPEN_ALERT_STATES,
    Alert,
    FollowUp,
    HomeVisit,
    KeyHousehold,
    VisitState,
)

MAX_REASON = 300
MAX_NOTE = 2000
MAX_MONTHS = 12
# A follow-up shows as "due soon" (yellow) this many days before its date; red the day after.
DUE_SOON_DAYS = 7
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_.:-]{8,64}")


def today() -> dt.date:
    return timezone.localdate()


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later; the month's last day when it has fewer (31 Jan + 1 month
    is 28 or 29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


# ---------------------------------------------------------------------------------------------
# Who may do what


def _staff(actor: User) -> bool:
    return bool(actor and actor.is_authenticated and actor.is_active and not actor.is_resident)


def may_view(actor: User) -> bool:
    return _staff(actor) and actor.has_perm_code(Perm.MONITORING_VIEW)


def may_manage(actor: User) -> bool:
    """Add and release key households: community and street staff, the civil-affairs bureau."""
    return _staff(actor) and actor.has_perm_code(Perm.MONITORING_KEY)


def may_follow_up(actor: User) -> bool:
    """Record follow-ups: grid and community workers (visit), and whoever manages the list."""
    return _staff(actor) and (
        actor.has_perm_code(Perm.MONITORING_VISIT) or actor.has_perm_code(Perm.MONITORING_KEY)
    )


def available_actions(actor: User, key: KeyHousehold) -> list[str]:
    """What the actor may do to the record now: exactly what the services accept."""
    if key.released_on is not None:
        return []
    out = []
    if may_follow_up(actor):
        out.append("follow_up")
    if may_manage(actor):
        out.append("release")
    return out


# ---------------------------------------------------------------------------------------------
# Input hygiene


def _text(value: Any, field_name: str, *, limit: int, message: str) -> str:
    text = str(value or "").strip()
    if not text:
        raise ValidationFailed(message, details={field_name: [_("This field is required.")]})
    char = control_character(text)
    if char is not None:
        problem = control_character_message(field_name, char)
        raise ValidationFailed(problem, details={field_name: [problem]})
    if len(text) > limit:
        raise ValidationFailed(
            _("The text has %(n)d characters; the limit is %(max)d.")
            % {"n": len(text), "max": limit},
            details={field_name: [_("At most %(max)d characters.") % {"max": limit}]},
        )
    return text


def _months(value: Any) -> int:
    try:
        months = 0 if isinstance(value, bool | float) else int(str(value).strip())
    except (TypeError, ValueError):
        months = 0
    if not 1 <= months <= MAX_MONTHS:
        raise ValidationFailed(
            _("Follow up every 1 to %(max)d months.") % {"max": MAX_MONTHS},
            details={
                "follow_up_months": [_("A whole number from 1 to %(max)d.") % {"max": MAX_MONTHS}]
            },
        )
    return months


def _date(value: Any, field_name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValidationFailed(
            _("Enter the date as YYYY-MM-DD."), details={field_name: [_("Not a date.")]}
        ) from None


def _idempotency_key(value: Any) -> str:
    key = str(value or "").strip()
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise ValidationFailed(
            _(
                "The follow-up needs an idempotency key of 8 to 64 letters, digits or - _ . : "
                "(the form makes one; an API client sends the same key when it resends)."
            ),
            details={"idempotency_key": [_("8 to 64 letters, digits or - _ . :")]},
        )
    return key


# ---------------------------------------------------------------------------------------------
# Reads


def key_household_get(*, actor: User, key_household_id: Any) -> KeyHousehold:
    if not may_view(actor):
        raise NotFound()
    return KeyHousehold.objects.select_related("household", "alert", "created_by").get_for(
        actor, key_household_id
    )


def place_path_of(place_id: int | None) -> str | None:
    return Place.objects.filter(pk=place_id).values_list("path", flat=True).first()


@dataclass(frozen=True)
class KeyFilter:
    # open (not released), due_soon, overdue, released, all
    state: str = "open"
    place_id: int | None = None
    number: str = ""  # household number starts with


STATES = ("open", "due_soon", "overdue", "released", "all")


def _state_q(state: str, on: dt.date) -> Q:
    open_ = Q(released_on__isnull=True)
    if state == "overdue":
        return open_ & Q(next_follow_up_on__lt=on)
    if state == "due_soon":
        return open_ & Q(
            next_follow_up_on__gte=on, next_follow_up_on__lte=on + dt.timedelta(days=DUE_SOON_DAYS)
        )
    if state == "released":
        return Q(released_on__isnull=False)
    if state == "all":
        return Q()
    return open_


def key_household_list(
    *, actor: User, filters: KeyFilter | None = None, on: dt.date | None = None
) -> QuerySet[KeyHousehold]:
    """Key households of the jurisdiction; open ones by their next follow-up, released ones
    latest first."""
    f = filters or KeyFilter()
    if not may_view(actor):
        return KeyHousehold.objects.none()
    on = on or today()
    qs = (
        KeyHousehold.objects.restrict(actor)
        .select_related("household")
        .filter(_state_q(f.state if f.state in STATES else "open", on))
    )
    if f.place_id is not None:
        path = place_path_of(f.place_id)
        if path is None:
            return qs.none()
        qs = qs.filter(place_path__under=path)
    number = f.number.strip()[:32]
    if number and control_character(number) is not None:
        return qs.none()  # no household number holds one (and PostgreSQL refuses a NUL)
    if number:
        qs = qs.filter(household__number__startswith=number)
    if f.state == "released":
        return qs.order_by("-released_on", "-id")
    return qs.order_by("next_follow_up_on", "id")


def key_household_follow_ups(*, actor: User, key_household: KeyHousehold) -> QuerySet[FollowUp]:
    """The record's follow-ups, latest first (the caller fetched the record within reach)."""
    return key_household.follow_ups.select_related("by").order_by("-done_on", "-id")


def key_household_history(*, actor: User, key_household: KeyHousehold) -> QuerySet[AuditEntry]:
    follow_up_ids = [str(pk) for pk in key_household.follow_ups.values_list("pk", flat=True)]
    return (
        AuditEntry.objects.filter(
            Q(object_type=KeyHousehold._meta.label_lower, object_id=str(key_household.pk))
            | Q(object_type=FollowUp._meta.label_lower, object_id__in=follow_up_ids)
        )
        .select_related("actor")
        .order_by("-at", "-id")
    )


def open_key_for(*, actor: User, household_id: Any) -> KeyHousehold | None:
    """The household's open key-household record within reach, if any."""
    if not may_view(actor):
        return None
    try:
        return (
            KeyHousehold.objects.restrict(actor)
            .filter(household_id=int(household_id), released_on__isnull=True)
            .first()
        )
    except (TypeError, ValueError):
        return None


def household_by_number(*, actor: User, number: str) -> Household:
    """A household of the jurisdiction by its number (the "add" form types it)."""
    number = str(number or "").strip()
    found = (
        Household.objects.restrict(actor).filter(number=number).first()
        if number and control_character(number) is None
        else None
    )
    if found is None:
        raise ValidationFailed(
            _("No household with this number in your area: check the household number."),
            details={"household": [_("Not found in your area.")]},
        )
    return found


def warning(key: KeyHousehold, on: dt.date | None = None) -> int:
    """0 on time, 1 due within DUE_SOON_DAYS, 2 overdue (red); 0 once released."""
    if key.released_on is not None:
        return 0
    on = on or today()
    if key.next_follow_up_on < on:
        return 2
    return 1 if key.next_follow_up_on <= on + dt.timedelta(days=DUE_SOON_DAYS) else 0


@dataclass
class GridCounts:
    """One grid's key households: open, due soon, overdue, released (ever)."""

    grid_path: str
    grid_id: int | None = None
    grid_name: str = ""
    community_name: str = ""
    open: int = 0
    due_soon: int = 0
    overdue: int = 0
    released: int = 0


def _counted(on: dt.date) -> dict[str, Any]:
    return {
        "open": Count("pk", filter=Q(released_on__isnull=True)),
        "due_soon": Count("pk", filter=_state_q("due_soon", on)),
        "overdue": Count("pk", filter=_state_q("overdue", on)),
        "released": Count("pk", filter=Q(released_on__isnull=False)),
    }


def grid_counts(
    *, actor: User, place_path: str | None = None, on: dt.date | None = None
) -> list[GridCounts]:
    """Counts per grid of the jurisdiction (or of `place_path` within it), one GROUP BY query
    plus one for the grids' names; grids in path order."""
    if not may_view(actor):
        return []
    on = on or today()
    qs = KeyHousehold.objects.restrict(actor)
    if place_path:
        qs = qs.filter(place_path__under=place_path)
    rows = qs.order_by().values("grid_path").annotate(**_counted(on))
    out = {r["grid_path"]: GridCounts(**r) for r in rows}
    grids = Place.objects.filter(path__in=[p for p in out if p]).select_related("parent")
    for grid in grids:
        found = out[grid.path]
        found.grid_id, found.grid_name = grid.pk, grid.name
        found.community_name = grid.parent.name if grid.parent_id else ""
    return [out[p] for p in sorted(out)]


def totals(rows: list[GridCounts]) -> GridCounts:
    total = GridCounts(grid_path="")
    for row in rows:
        total.open += row.open
        total.due_soon += row.due_soon
        total.overdue += row.overdue
        total.released += row.released
    return total


def place_counts(*, actor: User, place_path: str, on: dt.date | None = None) -> dict[str, int]:
    """{open, due_soon, overdue, released} of one place, one query (the workbench's and the
    overview's figures)."""
    if not may_view(actor):
        return {"open": 0, "due_soon": 0, "overdue": 0, "released": 0}
    on = on or today()
    qs = KeyHousehold.objects.restrict(actor).filter(place_path__under=place_path)
    return qs.order_by().aggregate(**_counted(on))


def open_alert_count(*, actor: User, place_path: str) -> int:
    return (
        Alert.objects.restrict(actor)
        .filter(place_path__under=place_path, state__in=OPEN_ALERT_STATES)
        .order_by()
        .count()
    )


def follow_ups_due(*, actor: User, on: dt.date | None = None) -> QuerySet[KeyHousehold]:
    """Follow-ups falling due within DUE_SOON_DAYS, for those who record them."""
    if not may_follow_up(actor):
        return KeyHousehold.objects.none()
    return key_household_list(actor=actor, filters=KeyFilter(state="due_soon"), on=on)


def follow_ups_overdue(*, actor: User, on: dt.date | None = None) -> QuerySet[KeyHousehold]:
    if not may_follow_up(actor):
        return KeyHousehold.objects.none()
    return key_household_list(actor=actor, filters=KeyFilter(state="overdue"), on=on)


def may_see_unvisited_alerts(actor: User) -> bool:
    """Community and street staff (and the bureau) watch alerts nobody is visiting."""
    return may_view(actor) and (
        actor.has_perm_code(Perm.MONITORING_KEY) or actor.has_perm_code(Perm.MONITORING_SCREEN)
    )


def alerts_without_visit(*, actor: User) -> QuerySet[Alert]:
    """Open alerts of the jurisdiction with no pending home visit: not yet assigned, or the
    visits gave up (escalated to the community)."""
    if not may_see_unvisited_alerts(actor):
        return Alert.objects.none()
    pending = HomeVisit.objects.filter(alert_id=OuterRef("pk"), state=VisitState.PENDING)
    return (
        Alert.objects.restrict(actor)
        .filter(state__in=OPEN_ALERT_STATES)
        .filter(~Exists(pending))
        .select_related("household", "rule")
        .order_by("-severity", "opened_at", "id")
    )


def url_or_blank(name: str, *args: Any) -> str:
    """A page of another area that may not exist yet: its URL, or blank."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


# ---------------------------------------------------------------------------------------------
# Excel export


@transaction.atomic
def key_households_export(*, actor: User, filters: KeyFilter) -> tuple[str, IO[bytes]]:
    """The list the filter selects (重点户名册) as Excel; logged under the actor's jurisdiction."""
    if not may_view(actor):
        raise PermissionDenied()
    on = today()
    queryset = key_household_list(actor=actor, filters=filters, on=on)
    count = queryset.count()
    if count > settings.LINLI_EXPORT_MAX_ROWS:
        raise ValidationFailed(
            _("%(count)s rows match; an export holds at most %(limit)s. Narrow the filter.")
            % {"count": count, "limit": settings.LINLI_EXPORT_MAX_ROWS}
        )
    grids = dict(
        Place.objects.filter(
            path__in=queryset.order_by().values("grid_path").distinct()
        ).values_list("path", "name")
    )
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(str(_("Key households")))
    ws.append(
        [
            str(_("household number")),
            str(_("grid")),
            str(_("reason")),
            str(_("since")),
            str(_("follow up every (months)")),
            str(_("last follow-up")),
            str(_("next follow-up")),
            str(_("overdue")),
            str(_("released on")),
            str(_("release reason")),
        ]
    )
    for key in queryset.iterator(chunk_size=2000):
        row = [
            key.household.number,
            grids.get(key.grid_path, ""),
            key.reason,
            key.since,
            key.follow_up_months,
            key.last_follow_up_on,
            key.next_follow_up_on if key.released_on is None else None,
            str(_("yes")) if warning(key, on) == 2 else "",
            key.released_on,
            key.release_reason,
        ]
        ws.append([excel_safe(value) for value in row])
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
    wb.save(out)
    out.seek(0)
    shown = {k: v for k, v in dataclasses.asdict(filters).items() if v not in ("", None)}
    audit.record(
        actor=actor,
        action=AuditAction.EXPORT,
        instance=KeyHousehold(pk=0),
        label=_("%(count)s rows") % {"count": count},
        place_path=jurisdiction_path(actor),
        changes={"filters": shown, "rows": count},
    )
    return f"key-households-{on:%Y%m%d}.xlsx", out


# ---------------------------------------------------------------------------------------------
# Writes

AUDIT_FIELDS = (
    "reason",
    "alert",
    "since",
    "follow_up_months",
    "last_follow_up_on",
    "next_follow_up_on",
    "overdue_since",
    "released_on",
    "release_reason",
)


def _snapshot(key: KeyHousehold) -> dict[str, Any]:
    out = audit.snapshot(key, AUDIT_FIELDS)
    for name in ("reason", "release_reason"):
        if out.get(name):
            out[name] = scrub(out[name])  # an ID or phone number typed into it is masked
    return out


def _label(key: KeyHousehold) -> str:
    return _("Key household %(number)s") % {"number": key.household.number}


def _locked(actor: User, key_household_id: Any) -> KeyHousehold:
    return (
        KeyHousehold.objects.select_for_update(of=("self",))
        .select_related("household")
        .get_for(actor, key_household_id)
    )


def _already(existing: KeyHousehold) -> Conflict:
    return Conflict(
        _(
            "Household %(number)s is already a key household (since %(since)s): follow it up "
            "or release it before adding it again."
        )
        % {"number": existing.household.number, "since": existing.since.isoformat()},
        code="already_key",
        details={"household": [_("Already a key household.")]},
    )


@transaction.atomic
def key_household_add(
    *,
    actor: User,
    household_id: Any,
    reason: str,
    follow_up_months: int = 1,
    alert_id: Any = None,
) -> KeyHousehold:
    """Add a household to the key households (纳入重点户), its first follow-up due
    `follow_up_months` from today. One open record per household: a second is refused (409)."""
    if not may_manage(actor):
        raise PermissionDenied(
            _("Key households are added by community or street staff or the civil-affairs bureau.")
        )
    reason = _text(
        reason,
        "reason",
        limit=MAX_REASON,
        message=_("Give the reason for following this household up."),
    )
    months = _months(follow_up_months)
    # Locked, so two people adding the same household at once are served one after the other.
    household = (
        Household.objects.restrict(actor).select_for_update().filter(pk=_id(household_id)).first()
    )
    if household is None:
        raise NotFound()
    if household.status != RecordStatus.ACTIVE:
        raise Conflict(
            _("Household %(number)s is %(status)s: only active households are followed up.")
            % {"number": household.number, "status": household.get_status_display().lower()},
            code="household_inactive",
        )
    alert = None
    if alert_id not in (None, ""):
        alert = Alert.objects.restrict(actor).filter(pk=_id(alert_id)).first()
        if alert is None:
            raise NotFound()
        if alert.household_id != household.pk:
            raise ValidationFailed(
                _("The alert is about another household: add the alert's own household."),
                details={"alert": [_("Not this household's alert.")]},
            )
    existing = KeyHousehold.objects.filter(household=household, released_on__isnull=True).first()
    if existing is not None:
        raise _already(existing)
    on = today()
    key = KeyHousehold(
        household=household,
        reason=reason,
        alert=alert,
        since=on,
        follow_up_months=months,
        next_follow_up_on=add_months(on, months),
        created_by=actor,
    )
    try:
        with transaction.atomic():
            key.save()
    except IntegrityError:  # added at the same moment by someone else
        existing = KeyHousehold.objects.filter(household=household, released_on__isnull=True)
        raise _already(existing.select_related("household").first() or key) from None
    audit.record(
        actor=actor,
        action=AuditAction.CREATE,
        instance=key,
        changes=audit.diff({}, _snapshot(key)),
        label=_label(key),
    )
    return key


def _id(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise NotFound() from None
    if number < 1 or number >= 2**63:
        raise NotFound()
    return number


@transaction.atomic
def follow_up_record(
    *,
    actor: User,
    key_household_id: Any,
    done_on: Any,
    note: str,
    idempotency_key: str,
) -> FollowUp:
    """Record a follow-up (跟踪回访); the next is due `follow_up_months` after the latest one
    (the month's last day when it has fewer days). The same idempotency key sent again returns
    the follow-up already stored, nothing doubled."""
    if not may_follow_up(actor):
        raise PermissionDenied(_("Follow-ups are recorded by grid or community workers."))
    token = _idempotency_key(idempotency_key)
    stored = FollowUp.objects.filter(idempotency_key=token).first()
    if stored is not None:
        return _resent(actor, stored, key_household_id)
    day = _date(done_on, "done_on")
    note = _text(note, "note", limit=MAX_NOTE, message=_("Write what the follow-up found."))
    key = _locked(actor, key_household_id)
    # A resend that waited for the lock finds the first one now.
    stored = FollowUp.objects.filter(idempotency_key=token).first()
    if stored is not None:
        return _resent(actor, stored, key_household_id)
    if key.released_on is not None:
        raise Conflict(
            _("This household was released on %(day)s: there is nothing to follow up.")
            % {"day": key.released_on.isoformat()},
            code="released",
        )
    on = today()
    if day > on:
        raise ValidationFailed(
            _("A follow-up cannot be dated in the future (today is %(today)s).")
            % {"today": on.isoformat()},
            details={"done_on": [_("In the future.")]},
        )
    if day < key.since:
        raise ValidationFailed(
            _("The household became a key household on %(since)s: date the follow-up after it.")
            % {"since": key.since.isoformat()},
            details={"done_on": [_("Before the household became a key household.")]},
        )
    follow_up = FollowUp(key_household=key, done_on=day, by=actor, note=note, idempotency_key=token)
    try:
        with transaction.atomic():
            follow_up.save()
    except IntegrityError:
        stored = FollowUp.objects.filter(idempotency_key=token).first()
        if stored is None:
            raise
        return _resent(actor, stored, key_household_id)
    before = _snapshot(key)
    latest = max(day, key.last_follow_up_on or day)
    key.last_follow_up_on = latest
    key.next_follow_up_on = add_months(latest, key.follow_up_months)
    if key.next_follow_up_on >= on:
        key.overdue_since = None
    key.save(update_fields=["last_follow_up_on", "next_follow_up_on", "overdue_since"])
    audit.record(
        actor=actor,
        action=AuditAction.CREATE,
        instance=follow_up,
        changes={"done_on": [None, day.isoformat()], "note": [None, scrub(note)]},
        label=_("Follow-up of %(number)s") % {"number": key.household.number},
        place_path=key.place_path,
    )
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        instance=key,
        changes=audit.diff(before, _snapshot(key)),
        label=_label(key),
    )
    return follow_up


def _resent(actor: User, stored: FollowUp, key_household_id: Any) -> FollowUp:
    """The answer to a resend: the stored follow-up, if it is this record's and in reach."""
    key = KeyHousehold.objects.restrict(actor).filter(pk=stored.key_household_id).first()
    if key is None:
        raise NotFound()
    if str(stored.key_household_id) != str(key_household_id).strip():
        raise Conflict(
            _("This idempotency key was already used for another household's follow-up."),
            code="idempotency_key_reused",
            details={"idempotency_key": [_("Already used for another follow-up.")]},
        )
    stored.resent = True
    return stored


@transaction.atomic
def key_household_release(*, actor: User, key_household_id: Any, reason: str) -> KeyHousehold:
    """Release (解除重点户) with a reason: no more follow-ups are due; the record stays."""
    if not may_manage(actor):
        raise PermissionDenied(
            _(
                "Key households are released by community or street staff or the civil-affairs "
                "bureau."
            )
        )
    reason = _text(
        reason,
        "reason",
        limit=MAX_REASON,
        message=_("Give the reason for releasing the household (why it no longer needs it)."),
    )
    key = _locked(actor, key_household_id)
    if key.released_on is not None:
        raise Conflict(
            _("This household was already released on %(day)s.")
            % {"day": key.released_on.isoformat()},
            code="released",
        )
    before = _snapshot(key)
    key.released_on = today()
    key.release_reason = reason
    key.overdue_since = None
    key.save(update_fields=["released_on", "release_reason", "overdue_since"])
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        instance=key,
        changes=audit.diff(before, _snapshot(key)),
        label=_label(key),
    )
    return key


# ---------------------------------------------------------------------------------------------
# The periodic job


def mark_overdue_follow_ups(on: dt.date | None = None) -> dict[str, int]:
    """Open records past their follow-up date get `overdue_since` (the first day past it);
    those no longer past it (a follow-up was recorded) lose it. Two UPDATEs; run twice, the
    second changes nothing."""
    on = on or today()
    open_ = KeyHousehold.objects.filter(released_on__isnull=True)
    late = list(
        open_.filter(next_follow_up_on__lt=on, overdue_since__isnull=True).values_list(
            "pk", "next_follow_up_on"
        )
    )
    by_day: dict[dt.date, list[int]] = {}
    for pk, day in late:
        by_day.setdefault(day + dt.timedelta(days=1), []).append(pk)
    marked = 0
    for since, ids in by_day.items():
        for start in range(0, len(ids), 2000):
            marked += KeyHousehold.objects.filter(
                pk__in=ids[start : start + 2000], overdue_since__isnull=True
            ).update(overdue_since=since)
    cleared = open_.filter(next_follow_up_on__gte=on, overdue_since__isnull=False).update(
        overdue_since=None
    )
    overdue = open_.filter(next_follow_up_on__lt=on).count()
    return {"marked": marked, "cleared": cleared, "overdue": overdue}
