"""Fund supervision (阳光监管): checks that look for money going where it should not, and the
declarations of staff relatives that keep staff out of deciding their own family's benefits
(回避).

Each check is set-based: a few grouped queries over the whole place, never one per recipient,
so the daily run over a city's registry costs a handful of statements per check. A check
produces drafts keyed by kind + the records they rest on; storing them inserts the new ones,
refreshes the ones found before (`last_seen_at`) and marks `cleared_at` on those of the place
no run finds any more. A cleared finding stays open until a supervisor resolves it: that the
records were put right later does not say whether money was lost before, which only a person
can judge. A resolved finding whose records grew (another payment after the death, another
vehicle) is opened again.

"Running" benefits are those the one-running-benefit constraint counts: active, in gradual
exit, or suspended.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import posixpath
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import (
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from linli.core import audit
from linli.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from linli.core.masking import mask_name
from linli.core.models import AuditAction, User
from linli.core.roles import STAFF_ROLES, Perm
from linli.core.scoping import PATH_SEPARATOR, under_any
from linli.core.text import control_character, control_character_message, strip_invisible
from linli.core.workbench import Count as WorkbenchCount
from linli.core.workbench import Kind, Listing, Row
from linli.people.idnumbers import InvalidIdNumber, parse_id_number
from linli.people.models import (
    BankAccount,
    FinanceCategory,
    FinancialRecord,
    Household,
    Person,
    RecordStatus,
)
from linli.places.models import Place

from .models import (
    Benefit,
    BenefitStatus,
    Finding,
    FindingKind,
    FindingState,
    Payment,
    PaymentStatus,
    PolicyVersion,
    Program,
    StaffRelative,
    SupervisionRun,
    SupervisionRunState,
)

logger = logging.getLogger(__name__)

RUNNING = (BenefitStatus.ACTIVE, BenefitStatus.PHASING_OUT, BenefitStatus.SUSPENDED)
# Programs whose eligibility has the asset test (the engine applies it to these two).
ASSET_TESTED = (Program.MINIMUM_LIVING, Program.MARGINAL)
SAVINGS_KINDS = ("savings", "securities")
# Ids lists in `records` whose growth reopens a resolved finding.
REOPENING_LISTS = ("persons", "payments", "finances", "staff")
KEY_LENGTH = Finding._meta.get_field("key").max_length
SUMMARY_LENGTH = Finding._meta.get_field("summary").max_length
RESOLUTION_LENGTH = Finding._meta.get_field("resolution").max_length
RELATION_LENGTH = StaffRelative._meta.get_field("relation").max_length
# A run that has written no progress for this long died with its worker.
STALE_RUN = dt.timedelta(minutes=30)
CHUNK = 500


@dataclass
class Draft:
    """A finding as a check produced it, before it is stored."""

    kind: str
    key: str
    records: dict[str, Any]
    place_path: str
    program: str = ""


@dataclass
class KindCounts:
    found: int = 0
    new: int = 0
    reopened: int = 0
    cleared: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "found": self.found,
            "new": self.new,
            "reopened": self.reopened,
            "cleared": self.cleared,
        }


# --- helpers -----------------------------------------------------------------------------------


def _running(place_path: str) -> QuerySet:
    benefits = Benefit.objects.filter(status__in=RUNNING)
    return benefits.filter(place_path__under=place_path) if place_path else benefits


def _scoped(queryset: QuerySet, place_path: str) -> QuerySet:
    return queryset.filter(place_path__under=place_path) if place_path else queryset


def _common_path(paths: Iterable[str]) -> str:
    """The lowest place holding every path ("a/b/c/" and "a/b/d/" → "a/b/")."""
    paths = [p for p in paths if p]
    if not paths:
        return ""
    common = posixpath.commonpath(paths)
    return common + PATH_SEPARATOR if common else ""


def _key(*parts: object) -> str:
    """A finding's key from its records' ids; hashed when too long for the column."""
    key = "-".join(str(p) for p in parts)
    if len(key) <= KEY_LENGTH:
        return key
    return "h-" + hashlib.sha256(key.encode()).hexdigest()


def _money(value: Decimal | None) -> str:
    return str((value or Decimal(0)).quantize(Decimal("0.01")))


def _params_of(version_ids: Iterable[int]) -> dict[int, Any]:
    """The parameters of the given policy versions (a few per locality), in one query."""
    return {pk: v.params for pk, v in PolicyVersion.objects.in_bulk(set(version_ids)).items()}


def _program_label(program: str) -> str:
    try:
        return str(Program(program).label)
    except ValueError:
        return program


# --- the checks --------------------------------------------------------------------------------


def detect_shared_accounts(place_path: str, today: dt.date) -> list[Draft]:
    """One active bank account receiving the benefits of recipients of different households.
    Members of one household sharing an account (a couple's joint account) is normal."""
    recipients = _running(place_path).values("recipient_id")
    accounts = BankAccount.objects.filter(voided_at__isnull=True, person_id__in=recipients)
    shared = (
        accounts.values("account_number")
        .annotate(
            households=Count("person__household_id", distinct=True)
            + Count("person_id", filter=Q(person__household_id__isnull=True))
        )
        .filter(households__gt=1)
        .values("account_number")
    )
    rows = list(
        accounts.filter(account_number__in=shared)
        .order_by("account_number", "person_id")
        .values(
            "account_number",
            "bank",
            "person_id",
            "person__name",
            "person__household_id",
            "person__place_path",
        )
    )
    if not rows:
        return []
    benefits: dict[int, list[int]] = defaultdict(list)
    for benefit_id, recipient_id in (
        _running(place_path)
        .filter(recipient_id__in={r["person_id"] for r in rows})
        .values_list("id", "recipient_id")
    ):
        benefits[recipient_id].append(benefit_id)
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        groups[row["account_number"]].append(row)
    drafts = []
    for number, members in groups.items():
        households = {m["person__household_id"] for m in members if m["person__household_id"]}
        drafts.append(
            Draft(
                kind=FindingKind.SHARED_ACCOUNT,
                # The account, not its holders: a third recipient joining it updates this
                # finding (and reopens it if it was resolved).
                key=_key("account", hashlib.sha256(number.encode()).hexdigest()[:40]),
                place_path=_common_path(m["person__place_path"] for m in members),
                records={
                    "persons": [m["person_id"] for m in members],
                    "households": sorted(households),
                    "benefits": sorted(b for m in members for b in benefits[m["person_id"]]),
                    "figures": {
                        "account": BankAccount(account_number=number).account_masked,
                        "bank": members[0]["bank"],
                        "recipients": len(members),
                        "households": len(households)
                        + sum(1 for m in members if not m["person__household_id"]),
                        "names": [mask_name(m["person__name"]) for m in members],
                    },
                },
            )
        )
    return drafts


def detect_paid_after_death(place_path: str, today: dt.date) -> list[Draft]:
    """Payments (to be paid or paid) for a month after the recipient's recorded death; for a
    person recorded dead without a date, every such payment, to be checked by hand. One finding
    per benefit, listing the payments."""
    payments = _scoped(Payment.objects.all(), place_path).filter(
        Q(recipient__died_on__isnull=False, month__gt=F("recipient__died_on"))
        | Q(recipient__died_on__isnull=True, recipient__status=RecordStatus.DECEASED),
        status__in=(PaymentStatus.PENDING, PaymentStatus.PAID),
    )
    rows = payments.order_by("benefit_id", "month", "id").values(
        "id",
        "benefit_id",
        "benefit__household_id",
        "recipient_id",
        "recipient__name",
        "recipient__died_on",
        "program",
        "month",
        "amount",
        "status",
        "cycle_id",
        "place_path",
    )
    by_benefit: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        by_benefit[row["benefit_id"]].append(row)
    drafts = []
    for benefit_id, found in by_benefit.items():
        first = found[0]
        died_on = first["recipient__died_on"]
        drafts.append(
            Draft(
                kind=FindingKind.PAID_AFTER_DEATH,
                key=_key("benefit", benefit_id),
                program=first["program"],
                place_path=_common_path(r["place_path"] for r in found),
                records={
                    "persons": [first["recipient_id"]],
                    "households": [first["benefit__household_id"]],
                    "benefits": [benefit_id],
                    "payments": [r["id"] for r in found],
                    "cycles": sorted({r["cycle_id"] for r in found}),
                    "figures": {
                        "name": mask_name(first["recipient__name"]),
                        "died_on": died_on.isoformat() if died_on else None,
                        "months": [f"{r['month']:%Y-%m}" for r in found],
                        "pending": sum(r["status"] == PaymentStatus.PENDING for r in found),
                        "total": _money(sum((r["amount"] for r in found), Decimal(0))),
                    },
                },
            )
        )
    return drafts


def detect_over_asset_limits(place_path: str, today: dt.date) -> list[Draft]:
    """Recipients of asset-tested programs whose household now holds more than their policy
    version allows: savings and securities over the limit per member, more vehicles than
    allowed, extra housing where none is allowed. Assets are the current records (not voided,
    valid today) of the household's active members, as the engine reads them."""
    households = _running(place_path).filter(program__in=ASSET_TESTED).values("household_id")
    assets = FinancialRecord.objects.filter(
        Q(valid_to__isnull=True) | Q(valid_to__gte=today),
        person__household_id__in=households,
        person__status=RecordStatus.ACTIVE,
        category=FinanceCategory.ASSET,
        voided_at__isnull=True,
        valid_from__lte=today,
    )
    # Only the households holding any asset are compared: most recipients hold none, and
    # the run over a city's registry then reads a small share of its benefits.
    held = {
        row["person__household_id"]: row
        for row in assets.values("person__household_id").annotate(
            savings=Sum("amount", filter=Q(kind__in=SAVINGS_KINDS)),
            vehicles=Count("id", filter=Q(kind="vehicle")),
            housing=Count("id", filter=Q(kind="extra_housing")),
        )
    }
    holding = assets.values("person__household_id")
    benefits = list(
        _running(place_path)
        .filter(program__in=ASSET_TESTED, household_id__in=holding)
        .values(
            "id",
            "household_id",
            "recipient_id",
            "recipient__name",
            "program",
            "policy_version_id",
            "place_path",
        )
    )
    if not benefits:
        return []
    members = dict(
        Person.objects.filter(household_id__in=holding, status=RecordStatus.ACTIVE)
        .values("household_id")
        .annotate(n=Count("id"))
        .values_list("household_id", "n")
    )
    params = _params_of(b["policy_version_id"] for b in benefits)
    over: dict[int, tuple[dict, dict]] = {}
    for benefit in benefits:
        assets_held = held.get(benefit["household_id"])
        if assets_held is None:
            continue
        p = params[benefit["policy_version_id"]]
        count = members.get(benefit["household_id"], 0)
        savings = assets_held["savings"] or Decimal(0)
        limit = p.savings_per_person_limit * count
        breaches = []
        if savings > limit:
            breaches.append("savings")
        if assets_held["vehicles"] > p.vehicles_allowed:
            breaches.append("vehicles")
        if assets_held["housing"] and not p.extra_housing_allowed:
            breaches.append("extra_housing")
        if breaches:
            figures = {
                "name": mask_name(benefit["recipient__name"]),
                "program": benefit["program"],
                "members": count,
                "savings": _money(savings),
                "savings_limit": _money(limit),
                "vehicles": assets_held["vehicles"],
                "vehicles_allowed": p.vehicles_allowed,
                "extra_housing": assets_held["housing"],
                "extra_housing_allowed": p.extra_housing_allowed,
                "breaches": breaches,
            }
            over[benefit["id"]] = (benefit, figures)
    if not over:
        return []
    kinds_of = {
        "savings": SAVINGS_KINDS,
        "vehicles": ("vehicle",),
        "extra_housing": ("extra_housing",),
    }
    record_ids: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for pk, household_id, kind in assets.filter(
        person__household_id__in={b["household_id"] for b, _f in over.values()}
    ).values_list("id", "person__household_id", "kind"):
        record_ids[household_id].append((pk, kind))
    drafts = []
    for benefit_id, (benefit, figures) in over.items():
        kinds = {k for breach in figures["breaches"] for k in kinds_of[breach]}
        finances = sorted(pk for pk, kind in record_ids[benefit["household_id"]] if kind in kinds)
        drafts.append(
            Draft(
                kind=FindingKind.OVER_ASSET_LIMIT,
                key=_key("benefit", benefit_id),
                program=benefit["program"],
                place_path=benefit["place_path"],
                records={
                    "persons": [benefit["recipient_id"]],
                    "households": [benefit["household_id"]],
                    "benefits": [benefit_id],
                    "finances": finances,
                    "figures": figures,
                },
            )
        )
    return drafts


def detect_staff_relatives(place_path: str, today: dt.date) -> list[Draft]:
    """Benefits whose recipient, or an active member of the household covered, is staff (a
    staff account linked to the person) or a declared relative of staff (回避). Notes whether
    that staff member decided the application."""
    running = _running(place_path)
    covered = Person.objects.filter(
        Q(household_id__in=running.values("household_id"), status=RecordStatus.ACTIVE)
        | Q(pk__in=running.values("recipient_id"))
    )
    links: dict[int, list[dict]] = defaultdict(list)  # person id → how they are linked to staff
    household_of: dict[int, int | None] = {}
    for pk, household_id, name, account_id in covered.filter(
        account__isnull=False,
        account__is_active=True,
        account__role__in=[str(role) for role in STAFF_ROLES],
    ).values_list("id", "household_id", "name", "account_id"):
        household_of[pk] = household_id
        links[pk].append({"person": mask_name(name), "staff_id": account_id, "how": "staff"})
    for pk, household_id, name, staff_id, relation in StaffRelative.objects.filter(
        person_id__in=covered.values("pk")
    ).values_list("person_id", "person__household_id", "person__name", "staff_id", "relation"):
        household_of[pk] = household_id
        links[pk].append(
            {
                "person": mask_name(name),
                "staff_id": staff_id,
                "how": "relative",
                "relation": relation,
            }
        )
    if not links:
        return []
    # Only the benefits of those households (staff and their relatives are few).
    benefits = list(
        running.filter(
            Q(household_id__in={h for h in household_of.values() if h is not None})
            | Q(recipient_id__in=list(links))
        ).values(
            "id",
            "household_id",
            "recipient_id",
            "recipient__name",
            "covers_person_only",
            "program",
            "place_path",
            "application__decided_by_id",
        )
    )
    staff_names = {
        u.pk: str(u)
        for u in User.objects.filter(pk__in={x["staff_id"] for ls in links.values() for x in ls})
    }
    by_household: dict[int | None, list[int]] = defaultdict(list)
    for pk, household_id in household_of.items():
        by_household[household_id].append(pk)
    drafts = []
    for benefit in benefits:
        if benefit["covers_person_only"]:
            persons = [benefit["recipient_id"]] if benefit["recipient_id"] in links else []
        else:
            persons = sorted(
                set(by_household.get(benefit["household_id"], []))
                | ({benefit["recipient_id"]} & links.keys())
            )
        if not persons:
            continue
        found = [
            dict(x, staff=staff_names.get(x["staff_id"], "")) for p in persons for x in links[p]
        ]
        staff = sorted({x["staff_id"] for x in found})
        drafts.append(
            Draft(
                kind=FindingKind.STAFF_RELATIVE,
                key=_key("benefit", benefit["id"]),
                program=benefit["program"],
                place_path=benefit["place_path"],
                records={
                    "persons": persons,
                    "households": [benefit["household_id"]],
                    "benefits": [benefit["id"]],
                    "staff": staff,
                    "figures": {
                        "name": mask_name(benefit["recipient__name"]),
                        "program": benefit["program"],
                        "links": found,
                        "decided_by_staff": benefit["application__decided_by_id"] in staff,
                    },
                },
            )
        )
    return drafts


def detect_amounts_out_of_line(place_path: str, today: dt.date) -> list[Draft]:
    """Monthly amounts above what the benefit's own policy version could give: 低保 above
    standard × persons covered (the amount with no income at all), 特困 above the basic
    standard plus the highest care amount."""
    programs = (Program.MINIMUM_LIVING, Program.EXTREME_POVERTY)
    running = _running(place_path).filter(program__in=programs)
    params = _params_of(running.values_list("policy_version_id", flat=True).distinct())
    if not params:
        return []
    money = DecimalField(max_digits=16, decimal_places=2)
    # One statement for all versions: the limits are constants of each version.
    over = Q(pk__in=[])
    for version_id, p in params.items():
        household_limit = ExpressionWrapper(
            F("persons_covered") * Value(p.standard, output_field=money), output_field=money
        )
        over |= Q(
            policy_version_id=version_id,
            program=Program.MINIMUM_LIVING,
            monthly_amount__gt=household_limit,
        )
        over |= Q(
            policy_version_id=version_id,
            program=Program.EXTREME_POVERTY,
            monthly_amount__gt=p.extreme_poverty_standard + p.care_dependent,
        )
    drafts = []
    for benefit in running.filter(over).values(
        "id",
        "household_id",
        "recipient_id",
        "recipient__name",
        "program",
        "persons_covered",
        "monthly_amount",
        "policy_version_id",
        "place_path",
    ):
        p = params[benefit["policy_version_id"]]
        if benefit["program"] == Program.MINIMUM_LIVING:
            limit = p.standard * benefit["persons_covered"]
            figures = {"standard": _money(p.standard), "persons": benefit["persons_covered"]}
        else:
            limit = p.extreme_poverty_standard + p.care_dependent
            figures = {
                "standard": _money(p.extreme_poverty_standard),
                "care": _money(p.care_dependent),
            }
        # Exact in Decimal: the database's arithmetic only chose the candidates.
        if benefit["monthly_amount"] <= limit:
            continue
        drafts.append(
            Draft(
                kind=FindingKind.AMOUNT_OUT_OF_LINE,
                key=_key("benefit", benefit["id"]),
                program=benefit["program"],
                place_path=benefit["place_path"],
                records={
                    "persons": [benefit["recipient_id"]],
                    "households": [benefit["household_id"]],
                    "benefits": [benefit["id"]],
                    "figures": figures
                    | {
                        "name": mask_name(benefit["recipient__name"]),
                        "program": benefit["program"],
                        "amount": _money(benefit["monthly_amount"]),
                        "limit": _money(limit),
                    },
                },
            )
        )
    return drafts


DETECTORS: tuple[tuple[str, Callable[[str, dt.date], list[Draft]]], ...] = (
    (FindingKind.SHARED_ACCOUNT, detect_shared_accounts),
    (FindingKind.PAID_AFTER_DEATH, detect_paid_after_death),
    (FindingKind.OVER_ASSET_LIMIT, detect_over_asset_limits),
    (FindingKind.STAFF_RELATIVE, detect_staff_relatives),
    (FindingKind.AMOUNT_OUT_OF_LINE, detect_amounts_out_of_line),
)


# --- what a finding says -----------------------------------------------------------------------


def describe(kind: str, records: dict[str, Any]) -> str:
    """The finding in a sentence, in the active language, names masked."""
    f = records.get("figures") or {}
    if kind == FindingKind.SHARED_ACCOUNT:
        return _(
            "Account %(account)s (%(bank)s) receives the benefits of %(count)d recipients in "
            "%(households)d households: %(names)s."
        ) % {
            "account": f.get("account", ""),
            "bank": f.get("bank", ""),
            "count": f.get("recipients", 0),
            "households": f.get("households", 0),
            "names": "、".join(f.get("names", [])),
        }
    if kind == FindingKind.PAID_AFTER_DEATH:
        values = {
            "name": f.get("name", ""),
            "died_on": f.get("died_on") or "",
            "count": len(f.get("months", [])),
            "months": "、".join(f.get("months", [])),
            "total": f.get("total", ""),
        }
        if f.get("died_on"):
            return (
                _(
                    "%(name)s, recorded dead on %(died_on)s, has %(count)d payments for later "
                    "months (%(months)s), %(total)s yuan."
                )
                % values
            )
        return (
            _(
                "%(name)s is recorded dead without a date and has %(count)d payments "
                "(%(months)s), %(total)s yuan: check which came after the death."
            )
            % values
        )
    if kind == FindingKind.OVER_ASSET_LIMIT:
        parts = []
        breaches = f.get("breaches", [])
        if "savings" in breaches:
            parts.append(
                _("savings and securities %(value)s yuan, limit %(limit)s")
                % {"value": f.get("savings"), "limit": f.get("savings_limit")}
            )
        if "vehicles" in breaches:
            parts.append(
                _("%(count)d vehicles, %(allowed)d allowed")
                % {"count": f.get("vehicles", 0), "allowed": f.get("vehicles_allowed", 0)}
            )
        if "extra_housing" in breaches:
            parts.append(
                _("%(count)d extra housing, none allowed") % {"count": f.get("extra_housing", 0)}
            )
        return _(
            "%(name)s's household (%(members)d members) is over the asset limits: %(parts)s."
        ) % {
            "name": f.get("name", ""),
            "members": f.get("members", 0),
            "parts": "; ".join(parts),
        }
    if kind == FindingKind.STAFF_RELATIVE:
        parts = []
        for link in f.get("links", []):
            if link.get("how") == "staff":
                parts.append(
                    _("%(person)s is staff (%(staff)s)")
                    % {"person": link.get("person", ""), "staff": link.get("staff", "")}
                )
            else:
                parts.append(
                    _("%(person)s is a declared relative (%(relation)s) of %(staff)s")
                    % {
                        "person": link.get("person", ""),
                        "relation": link.get("relation", ""),
                        "staff": link.get("staff", ""),
                    }
                )
        text = _("%(name)s's %(program)s: %(links)s.") % {
            "name": f.get("name", ""),
            "program": _program_label(f.get("program", "")),
            "links": "; ".join(parts),
        }
        if f.get("decided_by_staff"):
            text += " " + _("The application was decided by that staff member.")
        return text
    if kind == FindingKind.AMOUNT_OUT_OF_LINE:
        if f.get("program") == Program.EXTREME_POVERTY:
            formula = _("basic standard %(standard)s + full care %(care)s") % {
                "standard": f.get("standard"),
                "care": f.get("care"),
            }
        else:
            formula = _("standard %(standard)s × %(persons)d persons") % {
                "standard": f.get("standard"),
                "persons": f.get("persons", 0),
            }
        return _(
            "%(name)s's %(program)s pays %(amount)s yuan a month, above the most its policy "
            "gives: %(limit)s (%(formula)s)."
        ) % {
            "name": f.get("name", ""),
            "program": _program_label(f.get("program", "")),
            "amount": f.get("amount"),
            "limit": f.get("limit"),
            "formula": formula,
        }
    return ""


def finding_text(finding: Finding) -> str:
    """What the finding says in the reader's language (the stored summary is in the
    language of the run that found it)."""
    return describe(finding.kind, finding.records) or finding.summary


# --- storing a run's findings ------------------------------------------------------------------


def _grew(before: dict[str, Any], after: dict[str, Any]) -> bool:
    return any(set(after.get(name) or []) - set(before.get(name) or []) for name in REOPENING_LISTS)


def _store(kind: str, drafts: list[Draft], place_path: str, now: dt.datetime) -> KindCounts:
    counts = KindCounts(found=len(drafts))
    by_key = {d.key: d for d in drafts}
    existing: dict[str, Finding] = {}
    keys = list(by_key)
    for i in range(0, len(keys), CHUNK):
        existing |= {
            f.key: f for f in Finding.objects.filter(kind=kind, key__in=keys[i : i + CHUNK])
        }
    with translation.override(settings.LANGUAGE_CODE):
        summaries = {d.key: describe(kind, d.records)[:SUMMARY_LENGTH] for d in drafts}
    new = [
        Finding(
            kind=kind,
            key=d.key,
            program=d.program,
            summary=summaries[d.key],
            records=d.records,
            place_path=d.place_path,
            found_at=now,
            last_seen_at=now,
        )
        for d in drafts
        if d.key not in existing
    ]
    # Two runs at once (a page's and the daily one): the second's insert of a key is a no-op.
    Finding.objects.bulk_create(new, batch_size=CHUNK, ignore_conflicts=True)
    counts.new = len(new)
    changed, reopened = [], []
    for key, finding in existing.items():
        draft = by_key[key]
        finding.last_seen_at = now
        finding.cleared_at = None
        # A run over a street sees part of an account shared across streets: it confirms the
        # district's finding but does not narrow it to the street.
        if not place_path or finding.place_path.startswith(place_path):
            if finding.state != FindingState.OPEN and _grew(finding.records, draft.records):
                reopened.append((finding, finding.state))
                finding.state = FindingState.OPEN
            finding.records = draft.records
            finding.summary = summaries[key]
            finding.place_path = draft.place_path
            finding.program = draft.program
        changed.append(finding)
    Finding.objects.bulk_update(
        changed,
        ["last_seen_at", "cleared_at", "records", "summary", "place_path", "program", "state"],
        batch_size=CHUNK,
    )
    audit.record_many(
        [
            audit.entry(
                actor=None,
                action=AuditAction.UPDATE,
                instance=f,
                changes={"state": [before, FindingState.OPEN]},
                label=f.summary,
            )
            for f, before in reopened
        ]
    )
    counts.reopened = len(reopened)
    gone = [
        pk
        for pk, key in _scoped(
            Finding.objects.filter(kind=kind, cleared_at__isnull=True), place_path
        ).values_list("id", "key")
        if key not in by_key
    ]
    for i in range(0, len(gone), CHUNK):
        Finding.objects.filter(pk__in=gone[i : i + CHUNK]).update(cleared_at=now)
    counts.cleared = len(gone)
    return counts


# --- runs ---------------------------------------------------------------------------------------


def _check_run(actor: User | None, place_path: str) -> None:
    if place_path and not Place.objects.filter(path=place_path).exists():
        raise ValidationFailed(
            _("Choose a place to check."), details={"place": [_("There is no such place.")]}
        )
    if actor is None:
        return
    if not (actor.is_active and actor.has_perm_code(Perm.ASSISTANCE_SUPERVISE)):
        raise PermissionDenied()
    if actor.sees_everything:
        return
    if not place_path or not any(place_path.startswith(p) for p in actor.scope_paths):
        raise ValidationFailed(
            _("Choose a place within your jurisdiction."),
            details={"place": [_("Choose a place within your jurisdiction.")]},
        )


def supervision_run(
    *,
    actor: User | None,
    place_path: str,
    today: dt.date | None = None,
    run: SupervisionRun | None = None,
) -> dict[str, dict[str, int]]:
    """Run every check over the place ("" for the whole registry: the daily job, actor None)
    and store what they find. Each check commits on its own, so a crash keeps the checks done;
    running again is harmless. Returns per kind: found, new, reopened, cleared."""
    _check_run(actor, place_path)
    today = today or timezone.localdate()
    result: dict[str, dict[str, int]] = {}
    if run is not None:
        SupervisionRun.objects.filter(pk=run.pk).update(total=len(DETECTORS), processed=0)
    for done, (kind, detect) in enumerate(DETECTORS, start=1):
        with transaction.atomic():
            counts = _store(kind, detect(place_path, today), place_path, timezone.now())
        result[str(kind)] = counts.as_dict()
        if run is not None:
            SupervisionRun.objects.filter(pk=run.pk).update(
                processed=done, counts=result, heartbeat_at=timezone.now()
            )
    return result


def _fail_stale_runs(place_path: str, now: dt.datetime) -> None:
    stale = now - STALE_RUN
    SupervisionRun.objects.filter(
        Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, created_at__lt=stale),
        place_path=place_path,
        state__in=(SupervisionRunState.QUEUED, SupervisionRunState.RUNNING),
    ).update(
        state=SupervisionRunState.FAILED,
        finished_at=now,
        failure="The worker stopped without finishing; run the checks again.",
    )


@transaction.atomic
def supervision_run_request(*, actor: User, place_path: str) -> SupervisionRun:
    """Queue a run over a place of the actor's jurisdiction; a worker runs it (see
    supervision_tasks.run_supervision). A second request while one waits is refused."""
    _check_run(actor, place_path)
    now = timezone.now()
    _fail_stale_runs(place_path, now)
    run = SupervisionRun(place_path=place_path, requested_by=actor, created_at=now)
    try:
        with transaction.atomic():
            run.save()
    except IntegrityError:
        raise Conflict(
            _("The checks are already running for this place; wait for them to finish.")
        ) from None
    audit.record(
        actor=actor,
        action=AuditAction.CREATE,
        instance=run,
        changes={"place_path": [None, place_path]},
        label=str(_("Supervision checks")),
        place_path=place_path,
    )
    from .supervision_tasks import run_supervision

    transaction.on_commit(lambda: run_supervision.enqueue(run.pk))
    return run


def supervision_run_execute(*, run_id: int) -> SupervisionRun | None:
    """Carry out a queued run (the worker's part); a run already taken is left alone, so a task
    delivered twice runs once."""
    now = timezone.now()
    taken = SupervisionRun.objects.filter(pk=run_id, state=SupervisionRunState.QUEUED).update(
        state=SupervisionRunState.RUNNING, started_at=now, heartbeat_at=now
    )
    if not taken:
        return None
    run = SupervisionRun.objects.select_related("requested_by").get(pk=run_id)
    try:
        counts = supervision_run(actor=run.requested_by, place_path=run.place_path, run=run)
    except Exception as exc:  # recorded on the run for the page, then re-raised for the log
        message = exc.message if hasattr(exc, "message") else "The checks failed; see the log."
        SupervisionRun.objects.filter(pk=run_id).update(
            state=SupervisionRunState.FAILED, finished_at=timezone.now(), failure=message
        )
        if not isinstance(exc, PermissionDenied | ValidationFailed):
            raise
        return SupervisionRun.objects.get(pk=run_id)
    SupervisionRun.objects.filter(pk=run_id).update(
        state=SupervisionRunState.DONE, finished_at=timezone.now(), counts=counts
    )
    return SupervisionRun.objects.get(pk=run_id)


def supervision_run_daily() -> SupervisionRun | None:
    """The daily run over the whole registry (actor: the system); skipped while one runs."""
    now = timezone.now()
    _fail_stale_runs("", now)
    try:
        with transaction.atomic():
            run = SupervisionRun.objects.create(place_path="", created_at=now)
    except IntegrityError:
        return None
    return supervision_run_execute(run_id=run.pk)


# --- reads --------------------------------------------------------------------------------------


def may_view_findings(actor: User | None) -> bool:
    """Supervisors, and the street officers who decide benefits and check what is found in
    their street; only supervisors resolve findings."""
    return bool(
        actor is not None
        and actor.is_authenticated
        and actor.is_staff_role
        and (
            actor.has_perm_code(Perm.ASSISTANCE_SUPERVISE)
            or actor.has_perm_code(Perm.ASSISTANCE_DECIDE)
        )
    )


def may_resolve_findings(actor: User | None) -> bool:
    return bool(
        actor is not None
        and actor.is_authenticated
        and actor.is_staff_role
        and actor.has_perm_code(Perm.ASSISTANCE_SUPERVISE)
    )


def findings_for(actor: User | None) -> QuerySet[Finding]:
    if not may_view_findings(actor):
        return Finding.objects.none()
    return Finding.objects.restrict(actor, "view")


def finding_list(
    *,
    actor: User,
    kind: str = "",
    state: str = "",
    place_path: str = "",
    still_found: bool | None = None,
) -> QuerySet[Finding]:
    """Findings of the actor's jurisdiction, newest first, filtered."""
    if not may_view_findings(actor):
        raise PermissionDenied()
    findings = findings_for(actor)
    if kind:
        findings = findings.filter(kind=kind)
    if state:
        findings = findings.filter(state=state)
    if place_path:
        findings = findings.filter(place_path__under=place_path)
    if still_found is not None:
        findings = findings.filter(cleared_at__isnull=still_found)
    return findings.select_related("resolved_by").order_by("-found_at", "-id")


def finding_get(*, actor: User, finding_id: int) -> Finding:
    """One finding within reach; outside it, the same 404 as a missing one."""
    return findings_for(actor).select_related("resolved_by").get_for(actor, finding_id)


@dataclass
class LinkedRecords:
    """The records a finding names, as the reader may see them (persons they may open are
    marked so; names masked)."""

    persons: list[dict] = field(default_factory=list)
    households: list[dict] = field(default_factory=list)
    benefits: list[dict] = field(default_factory=list)
    payments: list[dict] = field(default_factory=list)
    finances: list[dict] = field(default_factory=list)
    staff: list[dict] = field(default_factory=list)


def finding_records(*, actor: User, finding: Finding) -> LinkedRecords:
    """A few queries, one per kind of record; ids the reader may not open carry open=False."""
    records = finding.records or {}

    def ids(name: str) -> list[int]:
        return [int(i) for i in records.get(name) or [] if isinstance(i, int)]

    out = LinkedRecords()
    visible_persons = set(
        Person.objects.restrict(actor).filter(pk__in=ids("persons")).values_list("pk", flat=True)
    )
    for person in Person.objects.filter(pk__in=ids("persons")).order_by("pk"):
        out.persons.append(
            {
                "id": person.pk,
                "name": mask_name(person.name),
                "status": person.get_status_display(),
                "died_on": person.died_on,
                "open": person.pk in visible_persons,
            }
        )
    visible_households = set(
        Household.objects.restrict(actor)
        .filter(pk__in=ids("households"))
        .values_list("pk", flat=True)
    )
    for household in Household.objects.filter(pk__in=ids("households")).order_by("pk"):
        out.households.append(
            {
                "id": household.pk,
                "number": household.number,
                "open": household.pk in visible_households,
            }
        )
    for benefit in Benefit.objects.restrict(actor).filter(pk__in=ids("benefits")).order_by("pk"):
        out.benefits.append(
            {
                "id": benefit.pk,
                "program": benefit.get_program_display(),
                "status": benefit.get_status_display(),
                "monthly_amount": benefit.monthly_amount,
                "persons_covered": benefit.persons_covered,
                "start_month": benefit.start_month,
                "policy_version": str(benefit.policy_version_id),
            }
        )
    for payment in Payment.objects.restrict(actor).filter(pk__in=ids("payments")).order_by("month"):
        out.payments.append(
            {
                "id": payment.pk,
                "cycle_id": payment.cycle_id,
                "month": payment.month,
                "amount": payment.amount,
                "status": payment.get_status_display(),
            }
        )
    for record in (
        FinancialRecord.objects.restrict(actor).filter(pk__in=ids("finances")).order_by("pk")
    ):
        out.finances.append(
            {
                "id": record.pk,
                "person_id": record.person_id,
                "kind": record.get_kind_display(),
                "amount": record.amount,
                "valid_from": record.valid_from,
            }
        )
    for user in User.objects.filter(pk__in=ids("staff")).order_by("pk"):
        out.staff.append({"id": user.pk, "name": str(user), "role": user.get_role_display()})
    return out


def runs_for(actor: User) -> QuerySet[SupervisionRun]:
    """Runs that covered the actor's jurisdiction or part of it, newest first."""
    if not may_view_findings(actor):
        return SupervisionRun.objects.none()
    if actor.sees_everything:
        return SupervisionRun.objects.all()
    above = {
        PATH_SEPARATOR.join(path.split(PATH_SEPARATOR)[: i + 1]) + PATH_SEPARATOR
        for path in actor.scope_paths
        for i in range(path.count(PATH_SEPARATOR))
    }
    return SupervisionRun.objects.filter(
        Q(place_path="") | Q(place_path__in=above) | under_any(actor.scope_paths)
    )


def run_get(*, actor: User, run_id: int) -> SupervisionRun:
    try:
        return runs_for(actor).get(pk=run_id)
    except (SupervisionRun.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None


# --- resolving ----------------------------------------------------------------------------------


def _conflicted_person_ids(actor: User, person_ids: Iterable[int]) -> set[int]:
    """Those of the persons who are the actor or the actor's declared relatives."""
    return set(
        Person.objects.filter(pk__in=list(person_ids))
        .filter(
            Q(account_id=actor.pk)
            | Q(pk__in=StaffRelative.objects.filter(staff_id=actor.pk).values("person_id"))
        )
        .values_list("pk", flat=True)
    )


def _clean_text(value: str, *, field_name: str, label: str, max_length: int) -> str:
    value = strip_invisible(value or "")
    if not value:
        raise ValidationFailed(
            _("%(field)s is required.") % {"field": label},
            details={field_name: [_("This field is required.")]},
        )
    if len(value) > max_length:
        message = _("Use at most %(n)s characters.") % {"n": max_length}
        raise ValidationFailed(message, details={field_name: [message]})
    char = control_character(value)
    if char is not None:
        message = control_character_message(label, char)
        raise ValidationFailed(message, details={field_name: [message]})
    return value


@transaction.atomic
def finding_resolve(*, actor: User, finding_id: int, state: str, resolution: str) -> Finding:
    """Close a finding as confirmed (a real problem, acted on) or explained (no problem), with
    what was found or done. Nobody resolves a finding naming themselves or their declared
    relatives (回避)."""
    if not may_resolve_findings(actor):
        raise PermissionDenied()
    try:
        finding = (
            Finding.objects.restrict(actor, "supervise").select_for_update().get(pk=finding_id)
        )
    except (Finding.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None
    if state not in (FindingState.CONFIRMED, FindingState.EXPLAINED):
        message = _("Choose confirmed or explained.")
        raise ValidationFailed(message, details={"state": [message]})
    resolution = _clean_text(
        resolution,
        field_name="resolution",
        label=str(Finding._meta.get_field("resolution").verbose_name).capitalize(),
        max_length=RESOLUTION_LENGTH,
    )
    if finding.state != FindingState.OPEN:
        raise Conflict(
            _("This finding was already resolved by %(who)s; reload the page.")
            % {"who": finding.resolved_by or _("System")}
        )
    records = finding.records or {}
    if actor.pk in (records.get("staff") or []) or _conflicted_person_ids(
        actor, records.get("persons") or []
    ):
        raise PermissionDenied(
            _(
                "You or a relative you declared is named in this finding: another supervisor "
                "must resolve it."
            )
        )
    before = {"state": finding.state, "resolution": finding.resolution}
    finding.state = state
    finding.resolution = resolution
    finding.resolved_by = actor
    finding.resolved_at = timezone.now()
    finding.save(update_fields=["state", "resolution", "resolved_by", "resolved_at"])
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        instance=finding,
        changes=audit.diff(before, {"state": finding.state, "resolution": finding.resolution}),
        label=finding.summary,
    )
    return finding


# --- staff relatives (回避) ----------------------------------------------------------------------


def staff_relatives_for(*, actor: User) -> QuerySet[StaffRelative]:
    """The actor's own declarations; for supervisors also every declaration about persons of
    their jurisdiction."""
    if not (actor.is_authenticated and actor.is_staff_role):
        raise PermissionDenied()
    mine = Q(staff_id=actor.pk)
    if actor.has_perm_code(Perm.ASSISTANCE_SUPERVISE):
        scoped = StaffRelative.objects.restrict(actor, "supervise").values("pk")
        mine |= Q(pk__in=scoped)
    return (
        StaffRelative.objects.filter(mine)
        .select_related("staff", "person")
        .order_by("staff__username", "-declared_at", "-id")
    )


@transaction.atomic
def staff_relative_declare(
    *, actor: User, id_number: str, name: str, relation: str
) -> StaffRelative:
    """Declare a relative of one's own (近亲属备案), found by ID number and name together: the
    relative may live anywhere in the registry, beyond the declarer's jurisdiction. A wrong
    number and a wrong name get the same answer, so the form tells nothing of the registry."""
    if not (actor.is_authenticated and actor.is_active and actor.is_staff_role):
        raise PermissionDenied()
    try:
        number, _birth, _sex = parse_id_number(id_number or "")
    except InvalidIdNumber as exc:
        raise ValidationFailed(str(exc), details={"id_number": [str(exc)]}) from None
    name = _clean_text(name, field_name="name", label=_("Name"), max_length=50)
    relation = _clean_text(
        relation, field_name="relation", label=_("Relation"), max_length=RELATION_LENGTH
    )
    person = Person.objects.filter(id_number=number).first()
    if person is None or strip_invisible(person.name) != name:
        message = _("No registered person has this ID number and name; check both.")
        raise ValidationFailed(message, details={"id_number": [message]})
    if person.account_id == actor.pk:
        message = _("That is you: benefits of staff are flagged without a declaration.")
        raise ValidationFailed(message, details={"id_number": [message]})
    declaration = StaffRelative(staff=actor, person=person, relation=relation)
    try:
        with transaction.atomic():
            declaration.save()
    except IntegrityError:
        raise Conflict(_("You have already declared this person.")) from None
    audit.record(
        actor=actor,
        action=AuditAction.CREATE,
        instance=declaration,
        changes={
            "staff": [None, actor.pk],
            "person": [None, person.pk],
            "relation": [None, relation],
        },
        label=f"{actor} · {mask_name(person.name)}",
    )
    return declaration


@transaction.atomic
def staff_relative_remove(*, actor: User, relative_id: int) -> None:
    """Withdraw a declaration: one's own, or, for supervisors, any in their jurisdiction."""
    try:
        declaration = (
            staff_relatives_for(actor=actor).select_for_update(of=("self",)).get(pk=relative_id)
        )
    except (StaffRelative.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None
    audit.record(
        actor=actor,
        action=AuditAction.DELETE,
        instance=declaration,
        changes={
            "staff": [declaration.staff_id, None],
            "person": [declaration.person_id, None],
            "relation": [declaration.relation, None],
        },
        label=f"{declaration.staff} · {mask_name(declaration.person.name)}",
    )
    declaration.delete()


def is_conflicted(actor: User, household: Household | int) -> bool:
    """Whether the actor is a member of the household or declared one of its members as a
    relative: such a staff member must not decide its applications (回避)."""
    household_id = household.pk if isinstance(household, Household) else household
    return (
        Person.objects.filter(household_id=household_id)
        .filter(
            Q(account_id=actor.pk)
            | Q(pk__in=StaffRelative.objects.filter(staff_id=actor.pk).values("person_id"))
        )
        .exists()
    )


# --- workbench ----------------------------------------------------------------------------------

FINDINGS_KEY = "assistance.findings"


def _workbench_row(finding: Finding) -> Row:
    detail = finding_text(finding)
    if finding.cleared_at:
        detail += " · " + _("no longer found")
    return Row(
        title=str(finding.get_kind_display()),
        detail=detail,
        url=reverse("assistance:finding_detail", args=[finding.pk]),
    )


def workbench_counts(actor: User) -> list[WorkbenchCount]:
    """Open findings of the actor's jurisdiction, for those who resolve them."""
    if not may_resolve_findings(actor):
        return []
    count = findings_for(actor).filter(state=FindingState.OPEN).order_by().count()
    return [WorkbenchCount(FINDINGS_KEY, _("Open supervision findings"), count, Kind.WAITING)]


def workbench_listing(actor: User, key: str) -> Listing | None:
    if key != FINDINGS_KEY or not may_resolve_findings(actor):
        return None
    return Listing(
        label=gettext_lazy("Open supervision findings"),
        queryset=findings_for(actor).filter(state=FindingState.OPEN).order_by("-found_at", "-id"),
        row=_workbench_row,
    )
