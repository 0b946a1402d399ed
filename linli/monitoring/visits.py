"""Home visits (入户走访): alerts become visit tasks for the grid worker of the household's grid,
and a visit record ends in one outcome.

Creating visits (`visits_create_for_open_alerts`) is set-based: one query finds the open alerts
without a pending or escalated visit, the grids and grid workers are read once, and the visits
are written in batches with their audit entries; run twice, the second run creates nothing. It
runs after each screening round and from the periodic job (visits_tasks.py).

The assignee is the grid worker whose jurisdiction holds the household's grid (several: the
first by id; none: unassigned, and the community sees the visit in its queue; a later run
assigns it once a grid worker is there). The deadline depends on the severity — parameters as
data in `VISIT_DEADLINES` (settings.LINLI_MONITORING_VISIT_DEADLINES overrides any of them): a
number of working days on the working-day calendar (due at the end of that day's working
hours), of working hours, or of clock hours (a severe alert: 24 hours round the clock).

`visit_record` stores one attempt (when, who was met, findings, photos without EXIF, position)
with an idempotency key: resent, the first record comes back and nothing changes. The visit
row is locked, so two submissions at once are served one after the other. Outcomes:

- no_risk: the visit is done; the alert is resolved with the findings as the reason.
- refer_assistance: an assistance application is filed by `application_refer` (program: the
  worker's choice, else the rule's, else minimum living), prefilled with the alert's explanation,
  figures and the visit's findings as evidence; the alert is referred. If the household already
  has an open application of that program, the record points to it instead.
- refer_service: a case is reported to the cases loop in the household's grid in the category
  the worker chose, or the other service named is noted; the alert is referred.
- unreachable: the attempt is counted and the visit rescheduled (`VISIT_RETRY`); at the
  `LINLI_MONITORING_VISIT_TRIES`-th try (default 3) the visit is escalated to the community
  (state escalated): it leaves the grid worker's list and shows in the community's queue and
  among the alerts nobody is visiting. Anyone of the community may still record a visit on it.

A record for a visit done or cancelled, or for an alert already closed, is refused (409).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from linli.core import audit
from linli.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from linli.core.masking import mask_id_number, mask_name, scrub
from linli.core.models import AuditAction, User
from linli.core.roles import Perm, Role
from linli.core.text import control_character, control_character_message
from linli.core.workbench import Count, Kind, Listing, Row
from linli.core.workdays import WORKDAY_END, deadline_after, due_date
from linli.places.models import Place, PlaceLevel

from .models import (
    OPEN_ALERT_STATES,
    Alert,
    AlertState,
    HomeVisit,
    Severity,
    VisitOutcome,
    VisitRecord,
    VisitState,
)

# Deadlines by severity: {"working_days": n} (due at the end of the n-th working day's hours),
# {"working_hours": n} or {"clock_hours": n} (round the clock).
VISIT_DEADLINES: dict[int, dict[str, int]] = {
    Severity.LOW: {"working_days": 10},
    Severity.MEDIUM: {"working_days": 5},
    Severity.HIGH: {"working_days": 2},
    Severity.SEVERE: {"clock_hours": 24},
}
# After a try that found nobody: the new deadline, counted from when the try was recorded.
VISIT_RETRY: dict[int, dict[str, int]] = {
    Severity.LOW: {"working_days": 3},
    Severity.MEDIUM: {"working_days": 2},
    Severity.HIGH: {"working_days": 1},
    Severity.SEVERE: {"clock_hours": 24},
}
VISIT_TRIES = 3
# A pending visit shows yellow this long before its deadline, red after it.
DUE_SOON = dt.timedelta(hours=24)
# A visit may be recorded a little "in the future" (a phone's clock runs fast).
CLOCK_SKEW = dt.timedelta(minutes=10)
MAX_MET = 200
MAX_FINDINGS = 4000
MAX_SERVICE = 300
MAX_PHOTOS = 9
PHOTO_DIRECTORY = "monitoring/visits"
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_.:-]{8,64}")
BATCH = 2000

WAITING_KEY = "monitoring.visits_waiting"
OVERDUE_KEY = "monitoring.visits_overdue"
ESCALATED_KEY = "monitoring.visits_escalated"

SHOW = ("todo", "overdue", "escalated", "done", "all")


# ---------------------------------------------------------------------------------------------
# Parameters


def _spec_table(name: str, default: dict[int, dict[str, int]]) -> dict[int, dict[str, int]]:
    table = dict(default)
    for key, spec in (getattr(settings, name, None) or {}).items():
        table[int(key)] = dict(spec)
    return table


def deadlines() -> dict[int, dict[str, int]]:
    return _spec_table("LINLI_MONITORING_VISIT_DEADLINES", VISIT_DEADLINES)


def retries() -> dict[int, dict[str, int]]:
    return _spec_table("LINLI_MONITORING_VISIT_RETRY", VISIT_RETRY)


def tries() -> int:
    return max(1, int(getattr(settings, "LINLI_MONITORING_VISIT_TRIES", VISIT_TRIES)))


def end_of_working_day(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, WORKDAY_END))


def due_after(start: dt.datetime, spec: dict[str, int]) -> dt.datetime:
    """The deadline `spec` gives from `start` (see VISIT_DEADLINES)."""
    if "clock_hours" in spec:
        return deadline_after(start, Decimal(spec["clock_hours"]), round_the_clock=True)
    if "working_hours" in spec:
        return deadline_after(start, Decimal(spec["working_hours"]))
    day = due_date(timezone.localdate(start), int(spec.get("working_days", 5)))
    return end_of_working_day(day)


def visit_due(start: dt.datetime, severity: int) -> dt.datetime:
    table = deadlines()
    return due_after(start, table.get(int(severity)) or table[Severity.MEDIUM])


def retry_due(start: dt.datetime, severity: int) -> dt.datetime:
    table = retries()
    return due_after(start, table.get(int(severity)) or table[Severity.MEDIUM])


# ---------------------------------------------------------------------------------------------
# Who may do what


def _staff(actor: User | None) -> bool:
    return bool(actor and actor.is_authenticated and actor.is_active and not actor.is_resident)


def may_view(actor: User | None) -> bool:
    return _staff(actor) and actor.has_perm_code(Perm.MONITORING_VIEW)


def may_visit(actor: User | None) -> bool:
    return _staff(actor) and actor.has_perm_code(Perm.MONITORING_VISIT)


def sees_community_queue(actor: User | None) -> bool:
    """Community and street staff (and the bureau) see every visit of their places, escalated
    ones included; a grid worker sees the visits assigned to them."""
    return may_view(actor) and (
        actor.sees_everything
        or actor.has_perm_code(Perm.MONITORING_KEY)
        or actor.has_perm_code(Perm.MONITORING_SCREEN)
    )


# ---------------------------------------------------------------------------------------------
# Creating visits for open alerts


def grid_path_of(place_path: str) -> str:
    parts = place_path.split("/")[: PlaceLevel.GRID]
    if len(parts) < PlaceLevel.GRID or not all(parts):
        return ""
    return "/".join(parts) + "/"


def _grid_workers(grid_paths: list[str]) -> dict[str, int]:
    """{grid path: id of the first active grid worker whose jurisdiction holds it}: one query
    for the workers' places, then each grid's ancestors looked up (at most five per grid)."""
    first_by_scope: dict[str, int] = {}
    rows = (
        User.places.through.objects.filter(user__role=Role.GRID_WORKER, user__is_active=True)
        .order_by("user_id")
        .values_list("user_id", "place__path")
    )
    for user_id, path in rows:
        first_by_scope.setdefault(path, user_id)
    out: dict[str, int] = {}
    for grid in grid_paths:
        parts = grid.split("/")[:-1]
        found = [
            first_by_scope[p]
            for p in ("/".join(parts[:n]) + "/" for n in range(1, len(parts) + 1))
            if p in first_by_scope
        ]
        if found:
            out[grid] = min(found)
    return out


def _assign_unassigned(now: dt.datetime, grids: dict[str, int], workers: dict[str, int]) -> int:
    """Pending visits nobody was assigned to get the grid worker now there (grouped by grid:
    one UPDATE per grid that has both)."""
    by_grid_id = {grids[path]: user for path, user in workers.items() if path in grids}
    waiting = (
        HomeVisit.objects.filter(state=VisitState.PENDING, assignee__isnull=True)
        .order_by()
        .values_list("grid_id", flat=True)
        .distinct()
    )
    assigned = 0
    for grid_id in list(waiting):
        user = by_grid_id.get(grid_id)
        if user is not None:
            assigned += HomeVisit.objects.filter(
                state=VisitState.PENDING, assignee__isnull=True, grid_id=grid_id
            ).update(assignee_id=user)
    return assigned


def _new_ids(count: int) -> list[int]:
    """Ids for new visits, taken before the insert so the rows a concurrent run inserted
    first (and this one's insert skipped) are told apart: PostgreSQL's sequence; on SQLite,
    whose transactions hold the write lock, the largest id onwards."""
    from django.db import connection
    from django.db.models import Max

    from linli.core.inserts import next_ids

    if connection.vendor == "postgresql":
        return next_ids(HomeVisit, count)
    start = (HomeVisit.objects.aggregate(top=Max("pk"))["top"] or 0) + 1
    return list(range(start, start + count))


def visits_create_for_open_alerts(*, as_of: dt.datetime | None = None) -> dict[str, int]:
    """A pending home visit for every open alert without a pending or escalated one, assigned
    and due by severity; their alerts go to "visit in progress". Returns {"created",
    "unassigned", "without_grid", "assigned"}. Idempotent (the one-pending-visit constraint
    settles two runs at once: the second one's rows are skipped)."""
    now = as_of or timezone.now()
    taken = HomeVisit.objects.filter(
        alert_id=OuterRef("pk"), state__in=(VisitState.PENDING, VisitState.ESCALATED)
    )
    alerts = (
        Alert.objects.filter(state__in=OPEN_ALERT_STATES)
        .filter(~Exists(taken))
        .order_by("id")
        .values_list("pk", "household_id", "place_path", "severity", "household__number")
    )
    grids = dict(Place.objects.filter(level=PlaceLevel.GRID).values_list("path", "pk"))
    workers = _grid_workers(list(grids))
    names = dict(User.objects.filter(pk__in=set(workers.values())).values_list("pk", "username"))
    due_by_severity: dict[int, dt.datetime] = {}
    counts = {"created": 0, "unassigned": 0, "without_grid": 0}
    batch: list[tuple] = []

    def flush() -> None:
        if not batch:
            return
        with transaction.atomic():
            taken_ids = _new_ids(len(batch))
            ids = iter(taken_ids)
            rows = []
            for alert_id, household_id, path, severity, _number in batch:
                grid_path = grid_path_of(path)
                if severity not in due_by_severity:
                    due_by_severity[severity] = visit_due(now, severity)
                rows.append(
                    HomeVisit(
                        pk=next(ids),
                        alert_id=alert_id,
                        household_id=household_id,
                        grid_id=grids[grid_path],
                        assignee_id=workers.get(grid_path),
                        due_at=due_by_severity[severity],
                        created_at=now,
                        place_path=path,
                    )
                )
            HomeVisit.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
            # Rows another run inserted first were skipped: only the ids taken here are ours.
            made = list(
                HomeVisit.objects.filter(pk__in=taken_ids).values_list(
                    "pk", "alert_id", "assignee_id", "due_at", "place_path"
                )
            )
            made_alerts = [alert_id for _pk, alert_id, *_rest in made]
            opened = list(
                Alert.objects.filter(pk__in=made_alerts, state=AlertState.OPEN).values_list(
                    "pk", flat=True
                )
            )
            Alert.objects.filter(pk__in=opened, state=AlertState.OPEN).update(
                state=AlertState.VISITING
            )
            numbers = {row[0]: row[4] for row in batch}
            paths = {row[0]: row[2] for row in batch}
            entries = [
                audit.entry(
                    actor=None,
                    action=AuditAction.UPDATE,
                    instance=Alert(pk=alert_id, place_path=paths[alert_id]),
                    changes={"state": [AlertState.OPEN, AlertState.VISITING]},
                    place_path=paths[alert_id],
                    label=_("Alert %(id)s of household %(number)s")
                    % {"id": alert_id, "number": numbers[alert_id]},
                    at=now,
                )
                for alert_id in opened
            ]
            for pk, alert_id, assignee_id, due_at, path in made:
                entries.append(
                    audit.entry(
                        actor=None,
                        action=AuditAction.CREATE,
                        instance=HomeVisit(pk=pk, place_path=path),
                        changes={
                            "alert": [None, f"#{alert_id}"],
                            "assignee": [None, names.get(assignee_id, "")],
                            "due_at": [None, due_at.isoformat()],
                        },
                        place_path=path,
                        label=_visit_label_of(pk, numbers[alert_id]),
                        at=now,
                    )
                )
                counts["unassigned"] += assignee_id is None
            audit.record_many(entries)
            counts["created"] += len(made)
        batch.clear()

    for row in alerts.iterator(chunk_size=BATCH):
        if grid_path_of(row[2]) not in grids:
            counts["without_grid"] += 1
            continue
        batch.append(row)
        if len(batch) >= BATCH:
            flush()
    flush()
    counts["assigned"] = _assign_unassigned(now, grids, workers)
    return counts


def mark_overdue(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Pending visits past their deadline get `overdue_since` (the deadline they passed); those
    rescheduled beyond now lose it. Two UPDATEs; run twice, the second changes nothing."""
    from django.db.models import F

    now = now or timezone.now()
    pending = HomeVisit.objects.filter(state=VisitState.PENDING)
    marked = pending.filter(due_at__lt=now, overdue_since__isnull=True).update(
        overdue_since=F("due_at")
    )
    cleared = pending.filter(due_at__gte=now, overdue_since__isnull=False).update(
        overdue_since=None
    )
    return {"marked": marked, "cleared": cleared, "overdue": pending.filter(due_at__lt=now).count()}


# ---------------------------------------------------------------------------------------------
# Reads


def warning(visit: HomeVisit, now: dt.datetime | None = None) -> int:
    """0 on time, 1 due within DUE_SOON (yellow), 2 overdue (red); 0 unless pending."""
    if visit.state != VisitState.PENDING:
        return 0
    now = now or timezone.now()
    if visit.due_at < now:
        return 2
    return 1 if visit.due_at <= now + DUE_SOON else 0


def _base(actor: User) -> QuerySet[HomeVisit]:
    return HomeVisit.objects.restrict(actor).select_related(
        "alert", "alert__rule", "household", "grid", "assignee"
    )


def visit_list(
    *, actor: User, show: str = "todo", now: dt.datetime | None = None
) -> QuerySet[HomeVisit]:
    """The actor's visits, by deadline. A grid worker: the visits assigned to them; community
    and street staff: every visit of their places. `show`: todo (pending, and escalated for the
    community), overdue, escalated, done (visited or cancelled, latest first), all."""
    if not may_view(actor):
        return HomeVisit.objects.none()
    now = now or timezone.now()
    community = sees_community_queue(actor)
    qs = _base(actor)
    if not community:
        qs = qs.filter(assignee=actor)
    show = show if show in SHOW else "todo"
    if show == "todo":
        states = (VisitState.PENDING, VisitState.ESCALATED) if community else (VisitState.PENDING,)
        qs = qs.filter(state__in=states)
    elif show == "overdue":
        qs = qs.filter(state=VisitState.PENDING, due_at__lt=now)
    elif show == "escalated":
        qs = qs.filter(state=VisitState.ESCALATED)
    elif show == "done":
        return qs.filter(state__in=(VisitState.DONE, VisitState.CANCELLED)).order_by(
            "-due_at", "-id"
        )
    return qs.order_by("due_at", "id")


def visit_get(*, actor: User, visit_id: Any) -> HomeVisit:
    if not may_view(actor):
        raise NotFound()
    return _base(actor).get_for(actor, visit_id)


def visit_records(visit: HomeVisit) -> list[VisitRecord]:
    return list(
        VisitRecord.objects.filter(visit=visit)
        .select_related("visitor")
        .order_by("-visited_at", "-id")
    )


@dataclass
class HouseholdShown:
    number: str
    address: str
    head_name: str  # masked
    head_id_number: str  # masked
    members: int


def household_shown(visit: HomeVisit) -> HouseholdShown:
    from linli.people.models import Person, RecordStatus

    members = list(
        Person.objects.filter(household_id=visit.household_id, status=RecordStatus.ACTIVE)
        .order_by("id")
        .values_list("relation", "name", "id_number")
    )
    head = next((m for m in members if m[0] == "head"), members[0] if members else None)
    return HouseholdShown(
        number=visit.household.number,
        address=visit.household.address,
        head_name=mask_name(head[1]) if head else "",
        head_id_number=mask_id_number(head[2]) if head else "",
        members=len(members),
    )


def available(actor: User, visit: HomeVisit) -> bool:
    """Whether the actor may record a visit on it now: exactly what `visit_record` accepts."""
    return (
        may_visit(actor)
        and visit.state in (VisitState.PENDING, VisitState.ESCALATED)
        and visit.alert.state in OPEN_ALERT_STATES
        and HomeVisit.objects.restrict(actor, "visit").filter(pk=visit.pk).exists()
    )


def service_categories() -> list[tuple[int, str]]:
    """The cases loop's minor classes a referral may open a case in (id, name)."""
    from django.utils.translation import get_language

    from linli.cases.models import Category

    english = not (get_language() or "").startswith("zh")
    rows = (
        Category.objects.filter(is_active=True, parent__isnull=False)
        .order_by("code")
        .values_list("pk", "code", "name", "name_en")
    )
    return [
        (pk, f"{code} {(name_en if english and name_en else name)}")
        for pk, code, name, name_en in rows
    ]


# ---------------------------------------------------------------------------------------------
# The workbench


def _visit_label_of(pk: Any, number: str) -> str:
    return _("Home visit %(id)s of household %(number)s") % {"id": pk, "number": number}


def _row(visit: HomeVisit) -> Row:
    return Row(
        title=f"{visit.household.number} · {visit.alert.get_severity_display()}",
        detail=_("due %(when)s")
        % {"when": timezone.localtime(visit.due_at).strftime("%Y-%m-%d %H:%M")}
        + f" · {visit.alert.explanation}"[:200],
        url=reverse("monitoring:visit_detail", args=[visit.pk]),
        warning=warning(visit),
    )


def _lists(actor: User) -> dict[str, tuple[str, str, str]]:
    if not may_visit(actor) and not sees_community_queue(actor):
        return {}
    out = {
        WAITING_KEY: (_("Home visits to make"), Kind.WAITING, "pending"),
        OVERDUE_KEY: (_("Overdue home visits"), Kind.OVERDUE, "overdue"),
    }
    if sees_community_queue(actor):
        out[ESCALATED_KEY] = (
            _("Home visits escalated to the community"),
            Kind.WAITING,
            "escalated",
        )
    return out


def _queryset(actor: User, which: str) -> QuerySet[HomeVisit]:
    now = timezone.now()
    qs = _base(actor)
    if not sees_community_queue(actor):
        qs = qs.filter(assignee=actor)
    if which == "pending":
        qs = qs.filter(state=VisitState.PENDING)
    elif which == "overdue":
        qs = qs.filter(state=VisitState.PENDING, due_at__lt=now)
    else:
        qs = qs.filter(state=VisitState.ESCALATED)
    return qs.order_by("due_at", "id")


def workbench_counts(actor: User) -> list[Count]:
    """Home visits waiting for the person, those overdue, and for the community those escalated
    to it (one COUNT each)."""
    return [
        Count(key, label, _queryset(actor, which).order_by().count(), kind)
        for key, (label, kind, which) in _lists(actor).items()
    ]


def workbench_listing(actor: User, key: str) -> Listing | None:
    entry = _lists(actor).get(key)
    if entry is None:
        return None
    label, _kind, which = entry
    return Listing(label=label, queryset=_queryset(actor, which), row=_row)


# ---------------------------------------------------------------------------------------------
# Input hygiene


def _field_error(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details={field: [message]})


def _text(value: Any, field: str, *, limit: int, required: str = "") -> str:
    text = str(value or "").strip()
    if not text:
        if required:
            raise _field_error(field, required)
        return ""
    char = control_character(text.replace("\n", "").replace("\r", "").replace("\t", ""))
    if char is not None:
        raise _field_error(field, control_character_message(field, char))
    if len(text) > limit:
        raise _field_error(
            field,
            _("The text has %(n)d characters; the limit is %(max)d.")
            % {"n": len(text), "max": limit},
        )
    return text


def _idempotency_key(value: Any) -> str:
    key = str(value or "").strip()
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise _field_error(
            "idempotency_key",
            _(
                "The visit record needs an idempotency key of 8 to 64 letters, digits or - _ . : "
                "(the form makes one; an API client sends the same key when it resends)."
            ),
        )
    return key


def _moment(value: Any) -> dt.datetime:
    moment = value
    if isinstance(value, str):
        try:
            moment = parse_datetime(value.strip())
        except ValueError:
            moment = None
    if not isinstance(moment, dt.datetime):
        raise _field_error(
            "visited_at", _("Enter when the visit was made as a date and time (YYYY-MM-DD HH:MM).")
        )
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def _coordinate(value: Any, field: str, bound: float) -> float | None:
    if value in (None, ""):
        return None
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or not -bound <= number <= bound:
        raise _field_error(
            field,
            _("The latitude must be a number from -90 to 90.")
            if field == "lat"
            else _("The longitude must be a number from -180 to 180."),
        )
    return number


def _position(lat: Any, lng: Any) -> tuple[float | None, float | None]:
    la, ln = _coordinate(lat, "lat", 90), _coordinate(lng, "lng", 180)
    if (la is None) != (ln is None):
        raise _field_error(
            "lat" if la is None else "lng",
            _("Send both the latitude and the longitude, or neither."),
        )
    return la, ln


def _outcome(value: Any) -> str:
    if value not in VisitOutcome.values:
        raise _field_error("outcome", _("Choose how the visit ended."))
    return value


OUTCOME_FIELDS = {
    VisitOutcome.NO_RISK: set(),
    VisitOutcome.REFER_ASSISTANCE: {"program"},
    VisitOutcome.REFER_SERVICE: {"category_id", "category_code", "service"},
    VisitOutcome.UNREACHABLE: set(),
}


def _outcome_fields(outcome: str, fields: dict[str, Any]) -> dict[str, Any]:
    given = {k: v for k, v in fields.items() if v not in (None, "")}
    unknown = sorted(set(given) - OUTCOME_FIELDS[outcome])
    if unknown:
        raise ValidationFailed(
            _("These fields do not belong to the outcome %(outcome)s: %(fields)s.")
            % {"outcome": VisitOutcome(outcome).label, "fields": ", ".join(unknown)},
            details={name: [_("Not for this outcome.")] for name in unknown},
        )
    if outcome == VisitOutcome.REFER_SERVICE:
        if not (given.get("category_id") or given.get("category_code") or given.get("service")):
            raise _field_error(
                "category_id",
                _(
                    "Choose the case category to open a case in, or name the other service the "
                    "household was referred to."
                ),
            )
        if given.get("service"):
            given["service"] = _text(given["service"], "service", limit=MAX_SERVICE)
    return given


# ---------------------------------------------------------------------------------------------
# Recording a visit


def _store_photos(uploads: list[UploadedFile], today: dt.date) -> list[dict[str, Any]]:
    """EXIF-free copies of the photos (as the assistance investigation's and the cases' are),
    all checked before any is stored."""
    from linli.cases.photos import FORMATS, check_photo, public_copy

    if len(uploads) > MAX_PHOTOS:
        raise _field_error("photos", _("A visit has at most %(n)d photos.") % {"n": MAX_PHOTOS})
    formats = []
    for upload in uploads:
        try:
            formats.append(check_photo(upload))
        except ValidationFailed as exc:
            raise _field_error("photos", f"{upload.name}: {exc.message}") from None
    stored: list[dict[str, Any]] = []
    try:
        for upload, fmt in zip(uploads, formats, strict=True):
            content, width, height = public_copy(upload, fmt)
            content_type, ext = FORMATS[fmt]
            name = default_storage.save(
                f"{PHOTO_DIRECTORY}/{today:%Y/%m}/{uuid.uuid4().hex}.{ext}", ContentFile(content)
            )
            stored.append(
                {"name": name, "content_type": content_type, "width": width, "height": height}
            )
    except Exception:
        _delete(stored)
        raise
    return stored


def _delete(photos: list[dict[str, Any]]) -> None:
    for photo in photos:
        default_storage.delete(photo["name"])


def _id(value: Any) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise NotFound() from None
    if not 1 <= number < 2**63:
        raise NotFound()
    return number


def _resent(actor: User, stored: VisitRecord, visit_id: Any) -> VisitRecord:
    if not HomeVisit.objects.restrict(actor).filter(pk=stored.visit_id).exists():
        raise NotFound()
    if str(stored.visit_id) != str(visit_id).strip():
        raise Conflict(
            _("This idempotency key was already used for another visit's record."),
            code="idempotency_key_reused",
            details={"idempotency_key": [_("Already used for another visit.")]},
        )
    stored.resent = True
    return stored


def _closed(visit: HomeVisit, alert: Alert) -> Conflict | None:
    if alert.state not in OPEN_ALERT_STATES:
        return Conflict(
            _(
                "The alert of this visit is already closed (%(state)s): nothing was recorded. "
                "Reload the page."
            )
            % {"state": alert.get_state_display()},
            code="alert_closed",
        )
    if visit.state not in (VisitState.PENDING, VisitState.ESCALATED):
        return Conflict(
            _("This visit is already closed (%(state)s): nothing was recorded. Reload the page.")
            % {"state": visit.get_state_display()},
            code="visit_closed",
        )
    return None


VISIT_AUDIT = ("state", "attempts", "outcome", "due_at", "overdue_since")
ALERT_AUDIT = ("state", "resolution", "resolved_at")


def _refer_assistance(
    actor: User, visit: HomeVisit, alert: Alert, record: VisitRecord, program: str
) -> dict[str, Any]:
    from linli.assistance.applications import application_refer
    from linli.assistance.models import Application
    from linli.assistance.transitions import APPLICABLE_PROGRAMS, OPEN_STATES

    program = program or alert.rule.program or "minimum_living"
    if program not in APPLICABLE_PROGRAMS:
        raise _field_error("program", _("Choose an assistance program one can apply for."))
    evidence = {
        "alert": alert.pk,
        "rule": alert.rule_code,
        "severity": alert.severity,
        "explanation": alert.explanation,
        "snapshot": alert.snapshot,
        "visit": visit.pk,
        "visited_at": record.visited_at.isoformat(),
        "met": record.met,
        "findings": record.findings,
    }
    try:
        application = application_refer(
            actor=actor,
            household_id=visit.household_id,
            program=program,
            source=f"monitoring alert {alert.pk}",
            evidence=evidence,
            temporary_kind="expenditure" if program == "temporary" else "",
            reason=record.findings,
        )
    except Conflict as exc:
        if exc.code != "already_applied":
            raise
        existing = (
            Application.objects.filter(
                household_id=visit.household_id, program=program, state__in=OPEN_STATES
            )
            .order_by("-id")
            .first()
        )
        if existing is None:
            raise
        return {"application": existing.pk, "program": program, "already_open": True}
    return {"application": application.pk, "program": program}


def _refer_service(
    actor: User, visit: HomeVisit, alert: Alert, record: VisitRecord, fields: dict[str, Any]
) -> dict[str, Any]:
    from linli.cases.selectors import reportable_category
    from linli.cases.services import case_report

    if not (fields.get("category_id") or fields.get("category_code")):
        return {"service": fields["service"]}
    try:
        reportable_category(code=fields.get("category_code", ""), pk=fields.get("category_id"))
    except Exception:
        raise _field_error(
            "category_id", _("Choose a case category from the list (a minor class).")
        ) from None
    description = _("Home visit of an alert: %(explanation)s") % {"explanation": alert.explanation}
    description += f"\n{record.findings}"
    case = case_report(
        actor=actor,
        category_id=fields.get("category_id"),
        category_code=fields.get("category_code", ""),
        description=description[:2000],
        grid_id=visit.grid_id,
        address=visit.household.address,
        source=None,
    )
    out: dict[str, Any] = {"case": case.pk, "case_number": case.number}
    if fields.get("service"):
        out["service"] = fields["service"]
    return out


@transaction.atomic
def visit_record(
    *,
    actor: User,
    visit_id: Any,
    idempotency_key: str,
    visited_at: Any,
    met: str,
    findings: str,
    photos: Any = (),
    lat: Any = None,
    lng: Any = None,
    outcome: str,
    **outcome_fields: Any,
) -> VisitRecord:
    """Record one attempt at a home visit and act on its outcome (see the module's text).
    Grid and community workers within the visit's places (monitoring.visit). The same
    idempotency key sent again returns the first record (`resent` True), nothing changed."""
    if not may_visit(actor):
        raise PermissionDenied(_("Home visits are recorded by grid or community workers."))
    token = _idempotency_key(idempotency_key)
    stored = VisitRecord.objects.filter(idempotency_key=token).first()
    if stored is not None:
        return _resent(actor, stored, visit_id)
    outcome = _outcome(outcome)
    extra = _outcome_fields(outcome, outcome_fields)
    when = _moment(visited_at)
    met = _text(
        met,
        "met",
        limit=MAX_MET,
        required="" if outcome == VisitOutcome.UNREACHABLE else _("Say who was met."),
    )
    findings = _text(
        findings, "findings", limit=MAX_FINDINGS, required=_("Write what the visit found.")
    )
    la, ln = _position(lat, lng)
    uploads = list(photos or [])
    visit = (
        HomeVisit.objects.restrict(actor, "visit")
        .select_for_update(of=("self",))
        .select_related("household")
        .filter(pk=_id(visit_id))
        .first()
    )
    if visit is None:
        raise NotFound()
    # A resend that waited for the lock finds the first one now.
    stored = VisitRecord.objects.filter(idempotency_key=token).first()
    if stored is not None:
        return _resent(actor, stored, visit_id)
    alert = (
        Alert.objects.select_for_update(of=("self",)).select_related("rule").get(pk=visit.alert_id)
    )
    refusal = _closed(visit, alert)
    if refusal is not None:
        raise refusal
    now = timezone.now()
    if when > now + CLOCK_SKEW:
        raise _field_error(
            "visited_at", _("A visit cannot be recorded in the future; check the date and time.")
        )
    if when < alert.opened_at - CLOCK_SKEW:
        raise _field_error(
            "visited_at",
            _("The alert was raised on %(day)s: the visit cannot be before it.")
            % {"day": timezone.localtime(alert.opened_at).strftime("%Y-%m-%d %H:%M")},
        )
    stored_photos = _store_photos(uploads, timezone.localdate(now))
    try:
        record = _write(
            actor,
            visit,
            alert,
            token,
            when,
            met,
            findings,
            stored_photos,
            la,
            ln,
            outcome,
            extra,
            now,
        )
    except Exception:
        _delete(stored_photos)
        raise
    return record


def _write(
    actor: User,
    visit: HomeVisit,
    alert: Alert,
    token: str,
    when: dt.datetime,
    met: str,
    findings: str,
    photos: list[dict[str, Any]],
    lat: float | None,
    lng: float | None,
    outcome: str,
    extra: dict[str, Any],
    now: dt.datetime,
) -> VisitRecord:
    record = VisitRecord(
        visit=visit,
        idempotency_key=token,
        visited_at=when,
        visitor=actor,
        met=met,
        findings=findings,
        photos=photos,
        lat=lat,
        lng=lng,
        outcome=outcome,
        created_at=now,
    )
    try:
        with transaction.atomic():
            record.save()
    except IntegrityError:
        stored = VisitRecord.objects.filter(idempotency_key=token).first()
        if stored is None:
            raise
        _delete(photos)
        photos.clear()
        return _resent(actor, stored, visit.pk)
    visit_before = audit.snapshot(visit, VISIT_AUDIT)
    alert_before = audit.snapshot(alert, ALERT_AUDIT)
    visit.attempts += 1
    visit.overdue_since = None
    number = visit.household.number
    if outcome == VisitOutcome.UNREACHABLE:
        if visit.state == VisitState.PENDING and visit.attempts >= tries():
            visit.state = VisitState.ESCALATED
            visit.outcome = outcome
        elif visit.state == VisitState.PENDING:
            visit.due_at = retry_due(now, alert.severity)
    else:
        visit.state, visit.outcome = VisitState.DONE, outcome
        if outcome == VisitOutcome.NO_RISK:
            alert.state = AlertState.RESOLVED
            alert.resolution = (
                _("Home visit found no risk: %(findings)s") % {"findings": findings}
            )[:300]
        else:
            if outcome == VisitOutcome.REFER_ASSISTANCE:
                record.referral = _refer_assistance(
                    actor, visit, alert, record, extra.get("program", "")
                )
                alert.resolution = _("Referred to assistance: application %(id)s") % {
                    "id": record.referral["application"]
                }
            else:
                record.referral = _refer_service(actor, visit, alert, record, extra)
                if "case" in record.referral:
                    alert.resolution = _("Referred to the cases loop: case %(number)s") % {
                        "number": record.referral["case_number"]
                    }
                else:
                    alert.resolution = (
                        _("Referred to another service: %(service)s")
                        % {"service": record.referral["service"]}
                    )[:300]
            alert.state = AlertState.REFERRED
            record.save(update_fields=["referral"])
        alert.resolved_at = now
        alert.save(update_fields=["state", "resolution", "resolved_at"])
    visit.save(update_fields=["attempts", "state", "outcome", "due_at", "overdue_since"])
    audit.record(
        actor=actor,
        action=AuditAction.CREATE,
        instance=record,
        changes={
            "visited_at": [None, when.isoformat()],
            "met": [None, scrub(met)],
            "findings": [None, scrub(findings)],
            "outcome": [None, outcome],
            "photos": [None, len(photos)],
            "position": [None, "yes" if lat is not None else "no"],
            "referral": [None, record.referral or None],
        },
        place_path=visit.place_path,
        label=_("Visit record of household %(number)s") % {"number": number},
    )
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        instance=visit,
        changes=audit.diff(visit_before, audit.snapshot(visit, VISIT_AUDIT)),
        label=_visit_label_of(visit.pk, number),
    )
    alert_after = audit.snapshot(alert, ALERT_AUDIT)
    if alert_after != alert_before:
        audit.record(
            actor=actor,
            action=AuditAction.UPDATE,
            instance=alert,
            changes=audit.diff(
                alert_before, {**alert_after, "resolution": scrub(alert.resolution)}
            ),
            label=_("Alert %(id)s of household %(number)s") % {"id": alert.pk, "number": number},
        )
    return record


def visit_photo(*, actor: User, visit_id: Any, record_id: Any, number: Any) -> dict[str, Any]:
    """A record's photo (`number` from 1) for whoever may see the visit."""
    record = VisitRecord.objects.filter(
        pk=_id(record_id),
        visit_id=_id(visit_id),
        visit__in=HomeVisit.objects.restrict(actor).values("pk"),
    ).first()
    if record is None:
        raise NotFound()
    index = _id(number)
    if not may_view(actor) or not 1 <= index <= len(record.photos):
        raise NotFound()
    return record.photos[index - 1]
