"""Policy sets and their dated versions (救助政策): lookup, and the services that add versions.

A locality (a city or a district) has one policy set per registration (urban, rural). Its
numbers live in versions, each effective from a date to the day before the next one. A change
takes effect from its date and never rewrites past decisions: versions are only ever added
after the latest one and never in the past; a decision keeps the version it was made under.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pydantic import ValidationError as PydanticValidationError

from linli.core import audit
from linli.core.errors import ApplicationError, Conflict, PermissionDenied, ValidationFailed
from linli.core.models import AuditAction, User
from linli.core.roles import Perm
from linli.core.scoping import PATH_SEPARATOR
from linli.people.models import FinanceKind, Registration
from linli.places.models import Place, PlaceLevel
from linli.places.selectors import place_in_jurisdiction

from .models import PolicySet, PolicyVersion
from .policy import GROUPS, PolicyParameters, demo_parameters

DEMO_START = dt.date(2026, 1, 1)
LOCALITY_LEVELS = (PlaceLevel.CITY, PlaceLevel.DISTRICT)
MAX_NAME = 100
MAX_NOTE = 300
MAX_SCHEDULE_ROWS = 200


class NoPolicy(ApplicationError):
    """No policy version applies to a place, registration and date."""

    status = 422
    code = "no_policy"


# ---------------------------------------------------------------------------------------------
# Lookup


def ancestor_paths(place_path: str) -> list[str]:
    """The paths of a place and of every place above it, innermost first."""
    codes = [code for code in place_path.split(PATH_SEPARATOR) if code]
    return [PATH_SEPARATOR.join(codes[:n]) + PATH_SEPARATOR for n in range(len(codes), 0, -1)]


def set_for(*, place_path: str, registration: str) -> PolicySet:
    """The policy set of the nearest locality at or above the place for that registration."""
    paths = ancestor_paths(place_path)
    found = {
        s.place_path: s
        for s in PolicySet.objects.filter(place_path__in=paths, registration=registration)
    }
    for path in paths:
        if path in found:
            return found[path]
    raise NoPolicy(
        _(
            "No %(registration)s assistance policy covers this place: a civil-affairs bureau "
            "must first set up the policy of its city or district."
        )
        % {
            "registration": Registration(registration).label
            if registration in Registration.values
            else registration
        }
    )


def version_in(policy_set: PolicySet, on: dt.date) -> PolicyVersion:
    version = (
        policy_set.versions.filter(valid_from__lte=on)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=on))
        .order_by("-valid_from")
        .select_related("policy_set")
        .first()
    )
    if version is None:
        first = policy_set.versions.order_by("valid_from").values_list("valid_from", flat=True)
        starts = first.first()
        if starts is not None and on < starts:
            message = _(
                "The policy “%(policy)s” takes effect on %(start)s; %(date)s is before it. "
                "Choose a date on or after %(start)s."
            ) % {"policy": policy_set.name, "start": starts.isoformat(), "date": on.isoformat()}
        else:
            message = _(
                "The policy “%(policy)s” has no version in force on %(date)s: add one that "
                "covers that date."
            ) % {"policy": policy_set.name, "date": on.isoformat()}
        raise NoPolicy(message, details={"date": [message]})
    return version


def version_for(*, place_path: str, registration: str, on: dt.date) -> PolicyVersion:
    """The policy version in force on a date for a household of that registration at the place:
    the nearest locality above the place that has a set for the registration, and the version
    whose period holds the date. Raises NoPolicy with a message saying what is missing."""
    return version_in(set_for(place_path=place_path, registration=registration), on)


# ---------------------------------------------------------------------------------------------
# Reading


def policy_sets(actor: User):
    return (
        PolicySet.objects.restrict(actor, "view")
        .select_related("locality")
        .order_by("place_path", "registration")
    )


def policy_set_get(actor: User, policy_set_id: int) -> PolicySet:
    return PolicySet.objects.select_related("locality").get_for(actor, policy_set_id)


def may_edit(actor: User, policy_set: PolicySet) -> bool:
    return PolicySet.objects.restrict(actor, "policy").filter(pk=policy_set.pk).exists()


def current_version(policy_set: PolicySet, on: dt.date | None = None) -> PolicyVersion | None:
    """The version in force today (or on `on`); the latest if none is in force yet. Reads
    `policy_set.versions.all()`, so a list of sets with `prefetch_related("versions")` costs
    no query per set."""
    on = on or timezone.localdate()
    newest_first = sorted(policy_set.versions.all(), key=lambda v: v.valid_from, reverse=True)
    for version in newest_first:
        if version.valid_from <= on and (version.valid_to is None or version.valid_to >= on):
            return version
    return newest_first[0] if newest_first else None


@dataclass(frozen=True)
class ParameterChange:
    field: str
    label: str
    before: Any
    after: Any

    @property
    def before_shown(self) -> str:
        return shown(self.before)

    @property
    def after_shown(self) -> str:
        return shown(self.after)


def field_label(name: str) -> str:
    return str(FIELD_LABELS[name][0]) if name in FIELD_LABELS else name


def field_help(name: str) -> str:
    return str(FIELD_LABELS[name][1]) if name in FIELD_LABELS else ""


def changed_parameters(before: dict | None, after: dict) -> list[ParameterChange]:
    """Parameters that differ, in the order the policy page shows them."""
    before = before or {}
    out = []
    for name in ordered_fields():
        if not same_value(before.get(name), after.get(name)):
            out.append(ParameterChange(name, field_label(name), before.get(name), after.get(name)))
    return out


def changes_from_previous(version: PolicyVersion) -> list[ParameterChange]:
    """What a version changed from the one before it (every figure for a set's first)."""
    previous = (
        version.policy_set.versions.filter(valid_from__lt=version.valid_from)
        .order_by("-valid_from")
        .first()
    )
    return changed_parameters(previous.parameters if previous else None, version.parameters)


def same_value(a: Any, b: Any) -> bool:
    """Equal as figures ("800" and "800.00"), as sets of kinds, or exactly."""
    if isinstance(a, list) and isinstance(b, list):
        return sorted(a) == sorted(b)
    figures = (str, int)
    if type(a) in figures and type(b) in figures:  # not bool, a subclass of int
        try:
            return Decimal(str(a)) == Decimal(str(b))
        except ArithmeticError:
            return a == b
    return a == b


def ordered_fields() -> list[str]:
    """Every parameter, in the order of the policy page's groups (which name them all)."""
    return [name for _key, _label, fields in GROUPS for name in fields]


# ---------------------------------------------------------------------------------------------
# Writing


def _require(actor: User, perm: str) -> None:
    if not actor.has_perm_code(perm):
        raise PermissionDenied()


def validate_parameters(parameters: Any) -> PolicyParameters:
    """PolicyParameters from a dict, with errors naming each field and the fix."""
    if not isinstance(parameters, dict):
        raise ValidationFailed(
            _("Give the parameters as an object of field names and values."),
            details={"parameters": [_("Expected an object.")]},
        )
    try:
        return PolicyParameters.model_validate(parameters)
    except PydanticValidationError as exc:
        details: dict[str, list[str]] = {}
        for error in exc.errors():
            where = error.get("loc") or ()
            field = str(where[0]) if where else "parameters"
            details.setdefault(field, []).append(_parameter_error(field, error))
        field, messages = next(iter(details.items()))
        label = field_label(field) if field in PolicyParameters.model_fields else field
        raise ValidationFailed(
            _("%(field)s: %(problem)s") % {"field": label, "problem": messages[0]},
            details=details,
        ) from None


def _parameter_error(field: str, error: dict) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return _("This parameter is required.")
    if kind == "extra_forbidden":
        return _("There is no parameter of this name; remove it.")
    if kind in ("greater_than_equal", "greater_than"):
        return _("Give a number of at least %(min)s.") % {"min": ctx.get("ge", ctx.get("gt"))}
    if kind in ("less_than_equal", "less_than"):
        return _("Give a number of at most %(max)s.") % {"max": ctx.get("le", ctx.get("lt"))}
    if kind in ("decimal_max_places", "decimal_max_digits", "decimal_whole_digits"):
        return _("Too many digits: give yuan to the fen (two decimals) or a shorter figure.")
    if kind.startswith(("decimal", "int", "float")) or kind in ("number_type",):
        return _("Give a number.")
    if kind.startswith("bool"):
        return _("Give yes or no.")
    if kind.startswith("list"):
        return _("Give a list of income kinds.")
    if kind == "value_error":
        message = str(ctx.get("error") or error.get("msg", ""))
        return _("Fix this: %(problem)s.") % {"problem": message}
    return _("Fix this value: %(problem)s.") % {"problem": error.get("msg", kind)}


def clean_text(value: str | None, field: str, limit: int, *, required: bool) -> str:
    """Printable text, trimmed; refused (naming the field) when missing or too long."""
    text = "".join(ch for ch in (value or "") if ch == " " or ch.isprintable()).strip()
    if required and not text:
        raise ValidationFailed(
            _("This field is required."), details={field: [_("This field is required.")]}
        )
    if len(text) > limit:
        message = _("At most %(max)d characters.") % {"max": limit}
        raise ValidationFailed(message, details={field: [message]})
    return text


def _locked_set(actor: User, policy_set_id: int) -> PolicySet:
    """The set within the actor's editing reach, locked against concurrent version adds."""
    _require(actor, Perm.ASSISTANCE_POLICY)
    policy_set = PolicySet.objects.get_for(actor, policy_set_id, "policy")
    return PolicySet.objects.select_for_update().select_related("locality").get(pk=policy_set.pk)


@transaction.atomic
def policy_set_create(*, actor: User, locality_id: int, registration: str, name: str) -> PolicySet:
    """A new policy set for a city or district in the actor's jurisdiction (no versions yet)."""
    _require(actor, Perm.ASSISTANCE_POLICY)
    locality = place_in_jurisdiction(actor, locality_id)
    if locality.level not in LOCALITY_LEVELS:
        raise ValidationFailed(
            _("A policy belongs to a city or a district; choose one of those."),
            details={"locality": [_("Choose a city or a district.")]},
        )
    if registration not in Registration.values:
        raise ValidationFailed(
            _("Choose urban or rural registration."),
            details={"registration": [_("Choose urban or rural registration.")]},
        )
    name = clean_text(name, "name", MAX_NAME, required=True)
    taken = Conflict(
        _("This locality already has a policy set for that registration."),
        details={"registration": [_("Choose the other registration.")]},
    )
    if PolicySet.objects.filter(locality=locality, registration=registration).exists():
        raise taken
    policy_set = PolicySet(locality=locality, registration=registration, name=name)
    try:
        with transaction.atomic():
            audit.save_audited(actor=actor, instance=policy_set, before=None)
    except IntegrityError:  # created by someone else since the check
        raise taken from None
    return policy_set


def _parse_date(value: Any, field: str) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except (TypeError, ValueError):
        message = _("Give a date as YYYY-MM-DD.")
        raise ValidationFailed(message, details={field: [message]}) from None


def _version_audit(actor: User, version: PolicyVersion, previous: PolicyVersion | None) -> None:
    changes = audit.diff({}, version.audit_snapshot())
    changed = changed_parameters(previous.parameters if previous else None, version.parameters)
    # The figures that changed, as "label: before → after" lines a reader understands.
    changes["parameters"] = [[c.label, shown(c.before), shown(c.after)] for c in changed]
    audit.record(
        actor=actor,
        action=AuditAction.CREATE,
        instance=version,
        changes=changes,
        label=version.audit_label(),
    )


def shown(value: Any) -> str:
    """A parameter's value as a reader knows it: income kinds by their names, yes or no."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        labels = dict(FinanceKind.choices)
        return "、".join(str(labels.get(v, v)) for v in value) or "—"
    return str(value)


@transaction.atomic
def policy_version_add(
    *,
    actor: User,
    policy_set_id: int,
    valid_from: dt.date | str,
    parameters: dict,
    note: str = "",
) -> PolicyVersion:
    """Add a version taking effect from `valid_from`, which must be after the latest version's
    start and not in the past; the latest version then ends the day before."""
    policy_set = _locked_set(actor, policy_set_id)
    start = _parse_date(valid_from, "valid_from")
    params = validate_parameters(parameters)
    note = clean_text(note, "note", MAX_NOTE, required=False)
    today = timezone.localdate()
    if start < today:
        message = _(
            "A policy change takes effect from a date that has not passed (today or later), so "
            "that past decisions stay as made. Choose %(today)s or later."
        ) % {"today": today.isoformat()}
        raise ValidationFailed(message, details={"valid_from": [message]})
    latest = policy_set.versions.order_by("-valid_from").first()
    if latest is not None and start <= latest.valid_from:
        message = _(
            "The latest version starts on %(start)s; a new version must start after it."
        ) % {"start": latest.valid_from.isoformat()}
        raise ValidationFailed(message, details={"valid_from": [message]})
    if latest is not None:
        before = latest.audit_snapshot()
        latest.valid_to = start - dt.timedelta(days=1)
        audit.save_audited(actor=actor, instance=latest, before=before)
    version = PolicyVersion(
        policy_set=policy_set,
        valid_from=start,
        parameters=params.as_json(),
        note=note,
        created_by=actor,
    )
    version.full_clean()
    version.save()
    _version_audit(actor, version, latest)
    return version


@dataclass(frozen=True)
class ScheduleProblem:
    row: int  # 1-based, in date order
    message: str


def policy_versions_check(policy_set: PolicySet) -> list[ScheduleProblem]:
    """Gaps and overlaps between a set's versions, for data entered other than by
    `policy_version_add` (an import, a database edit). Empty when the schedule is sound."""
    versions = list(policy_set.versions.order_by("valid_from", "pk"))
    return _schedule_problems([(v.valid_from, v.valid_to) for v in versions])


def _schedule_problems(periods: list[tuple[dt.date, dt.date | None]]) -> list[ScheduleProblem]:
    problems = []
    for index, (start, end) in enumerate(periods):
        row = index + 1
        if end is not None and end < start:
            problems.append(
                ScheduleProblem(row, _("Row %(row)d ends before it starts.") % {"row": row})
            )
        if index == 0:
            continue
        previous_end = periods[index - 1][1]
        if previous_end is None:
            problems.append(
                ScheduleProblem(
                    row,
                    _(
                        "Row %(row)d starts on %(start)s but row %(prev)d has no end date: "
                        "only the last row may be open-ended."
                    )
                    % {"row": row, "prev": row - 1, "start": start.isoformat()},
                )
            )
            continue
        expected = previous_end + dt.timedelta(days=1)
        if start > expected:
            problems.append(
                ScheduleProblem(
                    row,
                    _(
                        "Gap before row %(row)d: nothing is in force from %(from)s to %(to)s. "
                        "Start row %(row)d on %(from)s or end row %(prev)d on %(end)s."
                    )
                    % {
                        "row": row,
                        "prev": row - 1,
                        "from": expected.isoformat(),
                        "to": (start - dt.timedelta(days=1)).isoformat(),
                        "end": (start - dt.timedelta(days=1)).isoformat(),
                    },
                )
            )
        elif start < expected:
            problems.append(
                ScheduleProblem(
                    row,
                    _(
                        "Row %(row)d overlaps row %(prev)d: it starts on %(start)s, before row "
                        "%(prev)d ends on %(end)s. Start row %(row)d on %(next)s."
                    )
                    % {
                        "row": row,
                        "prev": row - 1,
                        "start": start.isoformat(),
                        "end": previous_end.isoformat(),
                        "next": expected.isoformat(),
                    },
                )
            )
    return problems


@transaction.atomic
def policy_schedule_import(
    *, actor: User, policy_set_id: int, versions: list[dict]
) -> list[PolicyVersion]:
    """Load a whole schedule into a set that has no versions yet (setting up a locality from
    its published history): rows of {valid_from, valid_to, parameters, note}, which must follow
    one another without a gap or an overlap; only the last may be open-ended. All or nothing."""
    policy_set = _locked_set(actor, policy_set_id)
    if policy_set.versions.exists():
        raise Conflict(
            _(
                "This policy already has versions; a schedule is imported only into a new "
                "policy. Add further versions one at a time."
            )
        )
    if not isinstance(versions, list) or not versions:
        message = _("Give at least one version.")
        raise ValidationFailed(message, details={"versions": [message]})
    if len(versions) > MAX_SCHEDULE_ROWS:
        message = _("At most %(max)d versions at once.") % {"max": MAX_SCHEDULE_ROWS}
        raise ValidationFailed(message, details={"versions": [message]})
    rows = []
    for index, raw in enumerate(versions, start=1):
        if not isinstance(raw, dict):
            message = _("Row %(row)d: give an object.") % {"row": index}
            raise ValidationFailed(message, details={"versions": [message]})
        try:
            start = _parse_date(raw.get("valid_from"), "valid_from")
            end = (
                None
                if raw.get("valid_to") in (None, "")
                else _parse_date(raw["valid_to"], "valid_to")
            )
            params = validate_parameters(raw.get("parameters"))
            note = clean_text(raw.get("note"), "note", MAX_NOTE, required=False)
        except ValidationFailed as exc:
            message = _("Row %(row)d: %(problem)s") % {"row": index, "problem": exc.message}
            raise ValidationFailed(
                message,
                details={f"versions[{index}].{k}": v for k, v in exc.details.items()},
            ) from None
        rows.append((index, start, end, params, note))
    given_order = [r[0] for r in rows]
    rows.sort(key=lambda r: r[1])
    if [r[0] for r in rows] != given_order:
        message = _("Give the versions in date order, earliest first.")
        raise ValidationFailed(message, details={"versions": [message]})
    problems = _schedule_problems([(r[1], r[2]) for r in rows])
    if problems:
        raise ValidationFailed(
            problems[0].message,
            details={f"versions[{p.row}]": [p.message] for p in problems},
        )
    created = []
    previous = None
    for _index, start, end, params, note in rows:
        version = PolicyVersion(
            policy_set=policy_set,
            valid_from=start,
            valid_to=end,
            parameters=params.as_json(),
            note=note,
            created_by=actor,
        )
        version.full_clean()
        version.save()
        _version_audit(actor, version, previous)
        created.append(version)
        previous = version
    return created


# ---------------------------------------------------------------------------------------------
# Demo


def ensure_demo_policies(locality: Place) -> list[PolicySet]:
    """Urban and rural demo policy sets (Qinghai's figures) for a city or district, each with a
    version from 2026-01-01. Idempotent: sets and versions already there are left as they are."""
    out = []
    for registration, rural in ((Registration.URBAN, False), (Registration.RURAL, True)):
        # Demo data, not interface text: named as a Chinese bureau names its policies.
        policy_set, _created = PolicySet.objects.get_or_create(
            locality=locality,
            registration=registration,
            defaults={
                "name": f"{locality.name}{'农村' if rural else '城市'}社会救助政策"[:MAX_NAME]
            },
        )
        if not policy_set.versions.exists():
            PolicyVersion.objects.create(
                policy_set=policy_set,
                valid_from=DEMO_START,
                parameters=demo_parameters(rural=rural).as_json(),
                note="演示政策（青海省标准）",
            )
        out.append(policy_set)
    return out


# What the policy page calls each parameter, and the help it shows under the figure.
FIELD_LABELS: dict[str, tuple[Any, Any]] = {
    "standard": (
        gettext_lazy("Minimum living standard"),
        gettext_lazy("Yuan per person per month (低保标准)."),
    ),
    "extreme_poverty_standard": (
        gettext_lazy("Extreme-poverty basic standard"),
        gettext_lazy("Yuan per person per month of basic living support for extreme poverty."),
    ),
    "counted_income_kinds": (
        gettext_lazy("Income counted"),
        gettext_lazy("Income kinds counted in full."),
    ),
    "exempt_income_kinds": (
        gettext_lazy("Income exempted"),
        gettext_lazy("Income kinds not counted at all."),
    ),
    "deducted_income_kinds": (
        gettext_lazy("Amounts deducted"),
        gettext_lazy(
            "Kinds subtracted from counted income (personal social-insurance contributions)."
        ),
    ),
    "employment_cost_share": (
        gettext_lazy("Employment-cost deduction share"),
        gettext_lazy(
            "Share of each earner's counted wage deducted as the cost of working (0.2 = 20%)."
        ),
    ),
    "employment_cost_cap": (
        gettext_lazy("Employment-cost deduction cap"),
        gettext_lazy("Most deducted per earner per month, in yuan."),
    ),
    "new_employment_exempt_months": (
        gettext_lazy("New employment exemption, months"),
        gettext_lazy("Months during which wages of newly found work are exempt."),
    ),
    "new_employment_exempt_cap_multiple": (
        gettext_lazy("New employment exemption cap"),
        gettext_lazy("Exempt up to this multiple of the standard per month; the rest is counted."),
    ),
    "phase_out_months": (
        gettext_lazy("Gradual exit, months"),
        gettext_lazy("Months a household whose income rose above the standard keeps its benefit."),
    ),
    "marginal_multiple": (
        gettext_lazy("Marginal band"),
        gettext_lazy(
            "Marginal households have per-capita income under this multiple of the standard."
        ),
    ),
    "marginal_bound_inclusive": (
        gettext_lazy("Marginal bound included"),
        gettext_lazy(
            "Yes: income equal to the bound is marginal (以下); no: only below it (低于)."
        ),
    ),
    "single_person_disability_grade_max": (
        gettext_lazy("Covered alone: disability grade"),
        gettext_lazy("A member with a disability of grade 1 to this may be covered alone."),
    ),
    "single_person_mental_grade_max": (
        gettext_lazy("Covered alone: intellectual or mental disability grade"),
        gettext_lazy("A member with an intellectual or mental disability of grade 1 to this."),
    ),
    "single_person_serious_illness": (
        gettext_lazy("Covered alone: serious illness"),
        gettext_lazy("A member with a serious illness may be covered alone."),
    ),
    "savings_per_person_limit": (
        gettext_lazy("Savings limit per person"),
        gettext_lazy("Savings and securities of the household up to this many yuan per member."),
    ),
    "vehicles_allowed": (
        gettext_lazy("Vehicles allowed"),
        gettext_lazy("Number of motor vehicles a household may own."),
    ),
    "extra_housing_allowed": (
        gettext_lazy("Extra housing allowed"),
        gettext_lazy("Whether a household may own housing beyond its home."),
    ),
    "rigid_expenditure_share": (
        gettext_lazy("Rigid-expenditure share"),
        gettext_lazy("Medical and education spending above this share of income makes a hardship."),
    ),
    "reference_disposable_income": (
        gettext_lazy("Reference disposable income"),
        gettext_lazy("Local per-capita disposable income per month, in yuan."),
    ),
    "care_independent": (
        gettext_lazy("Care amount: fully self-caring"),
        gettext_lazy("Yuan per month for extreme-poverty persons who manage all six items."),
    ),
    "care_partial": (
        gettext_lazy("Care amount: partly dependent"),
        gettext_lazy("Yuan per month for those who cannot manage some of the six items."),
    ),
    "care_dependent": (
        gettext_lazy("Care amount: fully dependent"),
        gettext_lazy("Yuan per month for those who cannot manage most of the six items."),
    ),
    "temporary_cap_multiple": (
        gettext_lazy("Temporary assistance cap"),
        gettext_lazy("Per person per event, as a multiple of the standard."),
    ),
    "temporary_hard_multiple": (
        gettext_lazy("Temporary assistance cap, especially hard"),
        gettext_lazy("The higher multiple for especially hard cases."),
    ),
    "street_approval_ceiling": (
        gettext_lazy("Street approval ceiling"),
        gettext_lazy(
            "The street approves temporary assistance up to this many yuan; the district above."
        ),
    ),
    "emergency_documents_days": (
        gettext_lazy("Documents after emergency payment"),
        gettext_lazy("Working days to document an emergency paid first."),
    ),
    "heating_per_household": (
        gettext_lazy("Heating subsidy per household"),
        gettext_lazy("Yuan per household."),
    ),
    "one_off_per_person": (
        gettext_lazy("One-off living subsidy per person"),
        gettext_lazy("Yuan per person."),
    ),
    "price_cpi_trigger": (
        gettext_lazy("Price subsidy trigger"),
        gettext_lazy(
            "Consumer-price rise (%, year on year) at which the price-linked subsidy is paid."
        ),
    ),
    "price_cpi_rise": (
        gettext_lazy("Consumer-price rise"),
        gettext_lazy("The current rise (%, year on year)."),
    ),
    "investigation_days": (
        gettext_lazy("Investigation time limit"),
        gettext_lazy("Working days for the household investigation."),
    ),
    "notice_days": (gettext_lazy("Public notice"), gettext_lazy("Calendar days of public notice.")),
    "decision_days": (
        gettext_lazy("Decision time limit"),
        gettext_lazy("Working days for the decision."),
    ),
    "total_days": (
        gettext_lazy("Total time limit"),
        gettext_lazy("Working days from acceptance to decision."),
    ),
    "extended_total_days": (
        gettext_lazy("Extended total time limit"),
        gettext_lazy("Working days when the time limit is extended."),
    ),
    "extreme_poverty_street_days": (
        gettext_lazy("Extreme poverty: street time limit"),
        gettext_lazy("Working days for the street's review."),
    ),
    "extreme_poverty_district_days": (
        gettext_lazy("Extreme poverty: district time limit"),
        gettext_lazy("Working days for the district's decision."),
    ),
    "extreme_poverty_sample_share": (
        gettext_lazy("Extreme poverty: district sample"),
        gettext_lazy("Share of applications the district checks itself (0.3 = 30%)."),
    ),
    "review_months": (gettext_lazy("Review interval"), gettext_lazy("Months between reviews.")),
    "unstable_review_months": (
        gettext_lazy("Review interval, unstable income"),
        gettext_lazy("Months between reviews of households with unstable income."),
    ),
    "death_recheck_months": (
        gettext_lazy("Re-check after a death"),
        gettext_lazy("Months within which a household is re-checked after a member dies."),
    ),
    "credit_penalty_months": (
        gettext_lazy("Credit penalty"),
        gettext_lazy("Months a failed credit pledge bars the credit route."),
    ),
}


def parameter_rows(params: dict) -> list[dict]:
    """Grouped rows for the policy page: [{"key", "label", "fields": [{name, label, value}]}]."""
    groups = []
    for key, label, fields in GROUPS:
        groups.append(
            {
                "key": key,
                "label": label,
                "fields": [
                    {
                        "name": name,
                        "label": field_label(name),
                        "help": field_help(name),
                        "value": shown(params.get(name)),
                    }
                    for name in fields
                ],
            }
        )
    return groups
