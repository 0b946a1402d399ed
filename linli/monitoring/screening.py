"""Screening (排查): the rules in force evaluated over a place's registry, set-based, and the
alerts that follow; screening rounds run it street by street in the background.

Every evaluator is one or a few SQL statements over the whole place — never a query per
household — returning {household_id: Hit(place_path, figures)}. `screen()` then, per rule:

- leaves out households with a running benefit of the rule's matching program;
- opens an alert for each new hit (bulk insert; ON CONFLICT DO NOTHING against the "one open
  alert per household and rule" constraint, so two runs never duplicate);
- leaves still-true open alerts alone (their snapshot is what they were raised on);
- does not raise again, within the rule's quiet period (`quiet_days`, default 90, counted
  back from the round's date), a hit on a household whose alert of the same rule code people
  closed — a visit found no risk, it was referred, or the community dismissed it — unless
  the rule's severity is now higher than the closed alert's. Alerts screening resolved itself
  (`closed_by_screening`) do not count: their condition may come back and be raised again;
- resolves open alerts of the rule under the place whose household is no longer hit, with
  the reason "condition no longer holds on <date>", and cancels their pending home visits.
  Alerts whose visit is under way (state visiting) are left to the visit's outcome.

The explanation is stored in the site language; the snapshot holds the figures it was filled
from (money as decimal strings), so rules.explain() renders it in any language later.

Definitions the evaluators share (documented here, tested in test_screening_rules.py):
- members: persons of the household whose status is active and who are alive on the date;
- marginal income: the counted income and per capita of assistance.simulations (the engine's
  definition) under the policy version in force for the household's locality and
  registration; flagged when per capita < multiple × standard (to the fen);
- expenditure share: medical and education records (not voided) starting in the last `months`
  months, summed per household, over `share` × `months` × the monthly counted income;
- loss of the main earner: the member with the highest monthly wage record in force at some
  time in the last `months` months died in that window, or has a disability of grade ≤ `grade`
  recorded in it — the registry keeps no dated disability fact, so the person's `updated_at`
  stands for the date it was recorded —, or has an UNEMPLOYMENT signal in it;
- elderly alone: a member aged `age`+ who lives alone or has a disability grade ≤ `grade`;
- disabled without care: a member with grade ≤ `grade`, no other member aged from
  `adult_age` to under `elderly_age`, and no able legal supporter (not voided);
- repeated signals: at least `count` signals of the kinds dated in the last `days` days;
- external signal: a signal of the kinds in the last `days` days with an amount over
  `min_amount` (any amount, or none, when it is 0).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, Max, Min, OuterRef, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from linli.assistance.engine import add_months
from linli.assistance.models import Benefit, PolicySet
from linli.assistance.policies import NoPolicy, version_in
from linli.assistance.simulations import Terms, household_ids_sql, households_sql
from linli.core import audit
from linli.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from linli.core.models import AuditAction, User
from linli.core.roles import Perm
from linli.people.models import (
    FinancialRecord,
    Household,
    LegalSupporter,
    Person,
    street_path_of,
    years_ago,
)
from linli.places.models import Place, PlaceLevel
from linli.places.selectors import place_in_jurisdiction

from . import rules as rule_data
from .models import (
    Alert,
    AlertState,
    HomeVisit,
    RiskRule,
    RoundState,
    RuleKind,
    ScreeningRound,
    Signal,
)

log = logging.getLogger(__name__)

RUNNING_BENEFIT = ("active", "phasing_out", "suspended")
BATCH = 2000
STALE_AFTER = dt.timedelta(minutes=10)
FEN = Decimal("0.01")


@dataclass(frozen=True)
class Hit:
    place_path: str
    figures: dict[str, Any]


@dataclass
class Scope:
    """Where and when: active households under `path` on `as_of`."""

    path: str
    as_of: dt.date

    def households(self) -> QuerySet:
        queryset = Household.objects.filter(status="active")
        if self.path:
            queryset = queryset.filter(place_path__under=self.path)
        return queryset


def _yuan(fen: Any) -> str:
    return str((Decimal(int(fen or 0)) / 100).quantize(FEN))


def _decimal_yuan(value: Any) -> str:
    return str(Decimal(str(value or 0)).quantize(FEN))


def _date(value: Any) -> dt.date | None:
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    text = str(value)
    if len(text) > 10:  # a timestamp as SQLite returns it (UTC)
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return timezone.localtime(parsed).date()
    return dt.date.fromisoformat(text)


def _age(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _run(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


# ---------------------------------------------------------------------------------------------
# Evaluators


def _policy_scopes(scope: Scope) -> list[tuple[PolicySet, QuerySet]]:
    """Each policy set touching the place with the households that follow it: of its
    registration, under both the place and its locality, and not under a smaller locality with
    its own set for that registration."""
    sets = list(PolicySet.objects.all())
    out = []
    for policy_set in sets:
        own = policy_set.place_path
        if scope.path.startswith(own):
            deeper = scope.path
        elif own.startswith(scope.path):
            deeper = own
        else:
            continue
        households = Household.objects.filter(
            status="active", registration=policy_set.registration, place_path__under=deeper
        )
        for other in sets:
            if (
                other.pk != policy_set.pk
                and other.registration == policy_set.registration
                and other.place_path.startswith(own)
                and other.place_path != own
            ):
                households = households.exclude(place_path__under=other.place_path)
        out.append((policy_set, households))
    return out


def _versions(scope: Scope):
    for policy_set, households in _policy_scopes(scope):
        try:
            version = version_in(policy_set, scope.as_of)
        except NoPolicy:
            log.warning("no policy version of %s on %s", policy_set, scope.as_of)
            continue
        yield version.params, households


def _fen(value: Decimal) -> int:
    return int((value * 100).to_integral_value(rounding=ROUND_HALF_UP))


def marginal_income(rule: RiskRule, scope: Scope) -> dict[int, Hit]:
    multiple = Decimal(rule.parameters["multiple"])
    hits: dict[int, Hit] = {}
    for params, households in _versions(scope):
        bound = _fen(multiple * params.standard)
        inner = households_sql(
            household_ids_sql(households), scope.as_of, {"p": Terms.of(params, scope.as_of)}
        )
        sql = (
            f"SELECT z.household_id, hh.place_path, z.members, z.pc_p, z.u_p FROM ({inner.text}) z "
            f"JOIN {_table(Household)} hh ON hh.id = z.household_id WHERE z.pc_p < %s"
        )
        for household_id, path, members, per_capita, income in _run(sql, [*inner.params, bound]):
            hits[household_id] = Hit(
                path,
                {
                    "per_capita": _yuan(per_capita),
                    "bound": _yuan(bound),
                    "standard": _decimal_yuan(params.standard),
                    "multiple": str(multiple),
                    "members": int(members),
                    "monthly_income": _yuan(income),
                },
            )
    return hits


def _expenditure_sql(start: dt.date, end: dt.date) -> tuple[str, list]:
    return (
        "SELECT r.household_id, CAST(SUM(ROUND(r.amount * 100)) AS BIGINT) AS spend "
        f"FROM {_table(FinancialRecord)} r WHERE r.voided_at IS NULL "
        "AND r.category = 'expenditure' AND r.kind IN ('medical', 'education') "
        "AND r.valid_from > %s AND r.valid_from <= %s AND r.household_id IS NOT NULL "
        "GROUP BY r.household_id",
        [start, end],
    )


def expenditure_share(rule: RiskRule, scope: Scope) -> dict[int, Hit]:
    share = Decimal(rule.parameters["share"])
    months = int(rule.parameters["months"])
    start = add_months(scope.as_of, -months)
    spent = FinancialRecord.objects.filter(
        voided_at__isnull=True,
        category="expenditure",
        kind__in=("medical", "education"),
        valid_from__gt=start,
        valid_from__lte=scope.as_of,
    ).values("household_id")
    scaled = int((share * 10_000).to_integral_value(rounding=ROUND_HALF_UP))
    hits: dict[int, Hit] = {}
    for params, households in _versions(scope):
        inner = households_sql(
            household_ids_sql(households.filter(pk__in=spent)),
            scope.as_of,
            {"p": Terms.of(params, scope.as_of)},
        )
        spend_sql, spend_params = _expenditure_sql(start, scope.as_of)
        sql = (
            f"SELECT z.household_id, hh.place_path, e.spend, z.u_p FROM ({inner.text}) z "
            f"JOIN ({spend_sql}) e ON e.household_id = z.household_id "
            f"JOIN {_table(Household)} hh ON hh.id = z.household_id "
            "WHERE e.spend * 10000 > CAST(%s AS BIGINT) * CAST(%s AS BIGINT) * z.u_p"
        )
        rows = _run(sql, [*inner.params, *spend_params, scaled, months])
        for household_id, path, spend, monthly in rows:
            income = int(monthly) * months
            percent = (
                str((Decimal(int(spend)) * 100 / income).quantize(Decimal("0.1"), ROUND_HALF_UP))
                if income
                else "—"
            )
            hits[household_id] = Hit(
                path,
                {
                    "spending": _yuan(spend),
                    "income": _yuan(income),
                    "share": str(share),
                    "percent": percent,
                    "months": months,
                },
            )
    return hits


def earner_loss(rule: RiskRule, scope: Scope) -> dict[int, Hit]:
    months = int(rule.parameters["months"])
    grade = int(rule.parameters["grade"])
    start = add_months(scope.as_of, -months)
    tz = timezone.get_current_timezone()
    start_at = dt.datetime.combine(start + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    end_at = dt.datetime.combine(scope.as_of + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    ops = connection.ops
    households_sql, households_params = (
        scope.households().order_by().values("pk").query.sql_with_params()
    )
    person, record, household = _table(Person), _table(FinancialRecord), _table(Household)
    sql = (
        "WITH wages AS (SELECT p.household_id, p.id AS person_id, MAX(r.amount) AS wage "
        f"FROM {record} r JOIN {person} p ON p.id = r.person_id "
        "WHERE r.voided_at IS NULL AND r.category = 'income' AND r.kind = 'wage' "
        "AND r.valid_from <= %s AND (r.valid_to IS NULL OR r.valid_to > %s) "
        f"AND p.household_id IN ({households_sql}) GROUP BY p.household_id, p.id), "
        "ranked AS (SELECT w.household_id, w.person_id, w.wage, "
        "RANK() OVER (PARTITION BY w.household_id ORDER BY w.wage DESC) AS rk FROM wages w), "
        "jobless AS (SELECT s.person_id, MAX(s.occurred_on) AS occurred_on "
        f"FROM {_table(Signal)} s WHERE s.kind = 'unemployment' AND s.person_id IS NOT NULL "
        "AND s.occurred_on > %s AND s.occurred_on <= %s GROUP BY s.person_id) "
        "SELECT k.household_id, hh.place_path, k.wage, p.died_on, p.disability_grade, "
        "p.updated_at, j.occurred_on FROM ranked k "
        f"JOIN {person} p ON p.id = k.person_id JOIN {household} hh ON hh.id = k.household_id "
        "LEFT JOIN jobless j ON j.person_id = k.person_id WHERE k.rk = 1 AND ("
        "(p.died_on > %s AND p.died_on <= %s) "
        "OR (p.disability_grade IS NOT NULL AND p.disability_grade <= %s "
        "AND p.updated_at >= %s AND p.updated_at < %s) "
        "OR j.occurred_on IS NOT NULL)"
    )
    params = [
        ops.adapt_datefield_value(scope.as_of),
        ops.adapt_datefield_value(start),
        *households_params,
        ops.adapt_datefield_value(start),
        ops.adapt_datefield_value(scope.as_of),
        ops.adapt_datefield_value(start),
        ops.adapt_datefield_value(scope.as_of),
        grade,
        ops.adapt_datetimefield_value(start_at),
        ops.adapt_datetimefield_value(end_at),
    ]
    hits: dict[int, Hit] = {}
    for household_id, path, wage, died_on, disability, updated_at, jobless_on in _run(sql, params):
        died_on = _date(died_on)
        if died_on is not None and start < died_on <= scope.as_of:
            event, on = "died", died_on
        elif disability is not None and int(disability) <= grade and _date(updated_at) > start:
            event, on = "disabled", _date(updated_at)
        else:
            event, on = "unemployed", _date(jobless_on)
        previous = hits.get(household_id)
        if previous is not None and previous.figures["event_on"] >= on.isoformat():
            continue  # two earners with the same wage: the latest event explains it
        hits[household_id] = Hit(
            path,
            {
                "wage": _decimal_yuan(wage),
                "event": event,
                "event_on": on.isoformat(),
                "months": months,
            },
        )
    return hits


def _members(scope: Scope) -> QuerySet:
    on = scope.as_of
    return Person.objects.filter(
        status="active", household__in=scope.households(), birth_date__lte=on
    ).filter(Q(died_on__isnull=True) | Q(died_on__gt=on))


def elderly_alone(rule: RiskRule, scope: Scope) -> dict[int, Hit]:
    age = int(rule.parameters["age"])
    grade = int(rule.parameters["grade"])
    rows = (
        _members(scope)
        .filter(birth_date__lte=years_ago(age, scope.as_of))
        .filter(Q(living_alone=True) | Q(disability_grade__lte=grade))
        .order_by("household_id", "birth_date", "id")
        .values_list(
            "household_id",
            "household__place_path",
            "birth_date",
            "living_alone",
            "disability_grade",
        )
    )
    hits: dict[int, Hit] = {}
    for household_id, path, birth, alone, disability in rows:
        if household_id in hits:
            continue  # the oldest explains it
        severe = disability is not None and disability <= grade
        hits[household_id] = Hit(
            path,
            {
                "age": _age(_date(birth), scope.as_of),
                "situation": "alone" if alone else "disabled",
                "grade": disability if severe else None,
            },
        )
    return hits


def disabled_without_care(rule: RiskRule, scope: Scope) -> dict[int, Hit]:
    grade = int(rule.parameters["grade"])
    on = scope.as_of
    carers = (
        _members(scope)
        .filter(
            household_id=OuterRef("household_id"),
            birth_date__lte=years_ago(int(rule.parameters["adult_age"]), on),
            birth_date__gt=years_ago(int(rule.parameters["elderly_age"]), on),
        )
        .exclude(pk=OuterRef("pk"))
    )
    supporters = LegalSupporter.objects.filter(
        person_id=OuterRef("pk"), voided_at__isnull=True, able_to_support=True
    )
    rows = (
        _members(scope)
        .filter(disability_grade__lte=grade)
        .filter(~Exists(carers), ~Exists(supporters))
        .order_by("household_id", "disability_grade", "birth_date", "id")
        .values_list("household_id", "household__place_path", "birth_date", "disability_grade")
    )
    hits: dict[int, Hit] = {}
    for household_id, path, birth, disability in rows:
        if household_id not in hits:
            hits[household_id] = Hit(
                path, {"age": _age(_date(birth), on), "grade": int(disability)}
            )
    return hits


def _signals(rule: RiskRule, scope: Scope) -> QuerySet:
    days = int(rule.parameters["days"])
    queryset = Signal.objects.filter(
        kind__in=rule.parameters["kinds"],
        occurred_on__gt=scope.as_of - dt.timedelta(days=days),
        occurred_on__lte=scope.as_of,
        household__status="active",
    )
    if scope.path:
        queryset = queryset.filter(place_path__under=scope.path)
    return queryset


def repeated_signals(rule: RiskRule, scope: Scope) -> dict[int, Hit]:
    count = int(rule.parameters["count"])
    rows = (
        _signals(rule, scope)
        .values("household_id", "household__place_path")
        .annotate(n=Count("id"), last=Max("occurred_on"))
        .filter(n__gte=count)
        .order_by()
        .values_list("household_id", "household__place_path", "n", "last")
    )
    kinds = list(rule.parameters["kinds"])
    return {
        household_id: Hit(
            path,
            {
                "count": n,
                "days": int(rule.parameters["days"]),
                "kinds": kinds,
                "last_on": _date(last).isoformat(),
            },
        )
        for household_id, path, n, last in rows
    }


def external_signal(rule: RiskRule, scope: Scope) -> dict[int, Hit]:
    minimum = Decimal(rule.parameters["min_amount"])
    queryset = _signals(rule, scope)
    if minimum > 0:
        queryset = queryset.filter(amount__gt=minimum)
    rows = (
        queryset.values("household_id", "household__place_path")
        .annotate(
            n=Count("id"),
            last=Max("occurred_on"),
            top=Max("amount"),
            total=Sum("amount"),
            kind=Min("kind"),
        )
        .order_by()
        .values_list("household_id", "household__place_path", "n", "last", "top", "total", "kind")
    )
    return {
        household_id: Hit(
            path,
            {
                "count": n,
                "days": int(rule.parameters["days"]),
                "kind": kind,
                "max_amount": _decimal_yuan(top),
                "total_amount": _decimal_yuan(total),
                "last_on": _date(last).isoformat(),
            },
        )
        for household_id, path, n, last, top, total, kind in rows
    }


EVALUATORS: dict[str, Callable[[RiskRule, Scope], dict[int, Hit]]] = {
    RuleKind.MARGINAL_INCOME: marginal_income,
    RuleKind.EXPENDITURE_SHARE: expenditure_share,
    RuleKind.EARNER_LOSS: earner_loss,
    RuleKind.ELDERLY_ALONE: elderly_alone,
    RuleKind.DISABLED_WITHOUT_CARE: disabled_without_care,
    RuleKind.REPEATED_SIGNALS: repeated_signals,
    RuleKind.EXTERNAL_SIGNAL: external_signal,
}


def evaluate(rule: RiskRule, scope: Scope) -> dict[int, Hit]:
    """The rule's hits under the scope, less households receiving its matching program."""
    hits = EVALUATORS[rule.kind](rule, scope)
    if rule.program and hits:
        receiving = Benefit.objects.filter(program=rule.program, status__in=RUNNING_BENEFIT)
        if scope.path:
            receiving = receiving.filter(place_path__under=scope.path)
        for household_id in receiving.values_list("household_id", flat=True).distinct():
            hits.pop(household_id, None)
    return hits


# ---------------------------------------------------------------------------------------------
# Screening: hits → alerts


# Closed by people: a visit found no risk (resolved), referred, or dismissed by the community.
PEOPLE_CLOSED_STATES = (AlertState.RESOLVED, AlertState.REFERRED, AlertState.DISMISSED)


def quiet_since(rule: RiskRule, as_of: dt.date) -> dt.datetime:
    """The start of the rule's quiet period for a round as of the date: an alert people closed
    from then on keeps its household from being flagged again by the rule."""
    start = as_of - dt.timedelta(days=rule_data.quiet_days(rule))
    return timezone.make_aware(dt.datetime.combine(start, dt.time.min))


def _quiet_households(rule: RiskRule, scope: Scope) -> set[int]:
    """Households (one query) with an alert of the rule's code that people closed within the
    quiet period at a severity at least the rule's: not flagged again while it lasts. Alerts
    screening resolved itself (condition gone) do not count. No quiet period at 0 days."""
    if not rule_data.quiet_days(rule):
        return set()
    closed = Alert.objects.filter(
        rule_code=rule.code,
        state__in=PEOPLE_CLOSED_STATES,
        closed_by_screening=False,
        resolved_at__gte=quiet_since(rule, scope.as_of),
        severity__gte=rule.severity,
    )
    if scope.path:
        closed = closed.filter(place_path__under=scope.path)
    return set(closed.order_by().values_list("household_id", flat=True).distinct())


def _apply(
    rule: RiskRule, hits: dict[int, Hit], scope: Scope, round: ScreeningRound | None, now
) -> tuple[int, int, int]:
    """Open alerts for new hits, resolve open ones no longer hit; (opened, resolved, held):
    `held` counts new hits not raised because people closed the household's alert of the rule
    within its quiet period (a higher severity than the closed alert's is raised)."""
    existing = Alert.objects.filter(rule_code=rule.code, state__in=("open", "visiting"))
    if scope.path:
        existing = existing.filter(place_path__under=scope.path)
    current = dict(existing.values_list("household_id", "state"))
    quiet = _quiet_households(rule, scope) if hits else set()
    language = settings.LANGUAGE_CODE
    template = rule_data.template_for(rule, language)
    new = [
        Alert(
            household_id=household_id,
            rule=rule,
            rule_code=rule.code,
            severity=rule.severity,
            explanation=rule_data.fill(template, hit.figures, language),
            snapshot=hit.figures,
            state=AlertState.OPEN,
            screening_round=round,
            opened_at=now,
            place_path=hit.place_path,
            street_path=street_path_of(hit.place_path),
        )
        for household_id, hit in hits.items()
        if household_id not in current and household_id not in quiet
    ]
    opened = 0
    for start in range(0, len(new), BATCH):
        created = Alert.objects.bulk_create(new[start : start + BATCH], ignore_conflicts=True)
        opened += len(created)
    gone = [h for h, state in current.items() if state == AlertState.OPEN and h not in hits]
    resolved = 0
    if gone:
        reason = _("condition no longer holds on %(date)s") % {"date": scope.as_of.isoformat()}
        stale = existing.filter(state=AlertState.OPEN)
        if len(gone) * 2 > len(current):
            stale_ids = [
                pk
                for pk, household_id in stale.values_list("pk", "household_id")
                if household_id not in hits
            ]
        else:
            stale_ids = list(stale.filter(household_id__in=gone).values_list("pk", flat=True))
        for start in range(0, len(stale_ids), BATCH):
            ids = stale_ids[start : start + BATCH]
            resolved += Alert.objects.filter(pk__in=ids, state=AlertState.OPEN).update(
                state=AlertState.RESOLVED,
                resolution=reason,
                resolved_at=now,
                closed_by_screening=True,
            )
            HomeVisit.objects.filter(alert_id__in=ids, state="pending").update(state="cancelled")
    held = sum(1 for h in hits if h not in current and h in quiet)
    return opened, resolved, held


def screen(
    *, place_path: str, as_of: dt.date, round: ScreeningRound | None = None
) -> dict[str, Any]:
    """Evaluate every rule in force on `as_of` over the active households under `place_path`
    ("" for everywhere), open and resolve alerts, and return the counts:
    {"households", "by_rule": {code: hits}, "by_severity": {"4": hits}, "by_street":
    {street_path: hits}, "opened", "resolved", "held"}. Idempotent: a second run over an
    unchanged registry opens and resolves nothing, also for alerts people closed meanwhile
    (within the rule's `quiet_days`; "held" counts those hits). No audit here (rounds audit
    their summary)."""
    scope = Scope(place_path or "", as_of)
    now = timezone.now()
    by_rule: dict[str, int] = {}
    by_severity: Counter = Counter()
    by_street: Counter = Counter()
    opened = resolved = held = 0
    for rule in rule_data.rules_in_force(as_of):
        if rule.kind not in EVALUATORS:
            continue
        with transaction.atomic():
            hits = evaluate(rule, scope)
            o, r, q = _apply(rule, hits, scope, round, now)
        opened += o
        resolved += r
        held += q
        by_rule[rule.code] = len(hits)
        by_severity[str(rule.severity)] += len(hits)
        for hit in hits.values():
            by_street[street_path_of(hit.place_path)] += 1
    return {
        "households": scope.households().count(),
        "by_rule": by_rule,
        "by_severity": dict(by_severity),
        "by_street": dict(by_street),
        "opened": opened,
        "resolved": resolved,
        "held": held,
    }


def merge_counts(total: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    for key, value in part.items():
        if isinstance(value, dict):
            bucket = total.setdefault(key, {})
            for k, v in value.items():
                bucket[k] = bucket.get(k, 0) + v
        else:
            total[key] = total.get(key, 0) + value
    return total


# ---------------------------------------------------------------------------------------------
# Screening rounds


def screening_rounds(actor: User) -> QuerySet[ScreeningRound]:
    return (
        ScreeningRound.objects.restrict(actor, "view")
        .select_related("place", "started_by")
        .order_by("-created_at", "-id")
    )


def round_get(actor: User, round_id: int) -> ScreeningRound:
    try:
        return ScreeningRound.objects.select_related("place", "started_by").get_for(actor, round_id)
    except NotFound:
        raise NotFound(_("No such screening round within your reach.")) from None


def _round_create(*, actor: User | None, place: Place, as_of: dt.date) -> ScreeningRound:
    screening_round = ScreeningRound(place=place, started_by=actor, as_of=as_of)
    try:
        with transaction.atomic():
            screening_round.save()
    except IntegrityError:
        raise Conflict(
            _(
                "A screening round of %(place)s is already running. Wait for it to finish, "
                "then start another."
            )
            % {"place": place.name},
            code="round_running",
        ) from None
    audit.record(
        actor=actor,
        action=AuditAction.CREATE,
        instance=screening_round,
        label=str(screening_round),
        changes={"place": [None, place.name], "as_of": [None, as_of.isoformat()]},
    )
    return screening_round


@transaction.atomic
def round_start(*, actor: User, place_id: int, as_of: dt.date) -> ScreeningRound:
    """Queue a screening round of a place in the actor's jurisdiction; it runs in the
    background (`round_run`) after this transaction commits. A second round of the same place
    while one is queued or running is refused (Conflict)."""
    if not actor.has_perm_code(Perm.MONITORING_SCREEN):
        raise PermissionDenied()
    if not isinstance(as_of, dt.date) or isinstance(as_of, dt.datetime):
        message = _("Give a date as YYYY-MM-DD.")
        raise ValidationFailed(message, details={"as_of": [message]})
    place = place_in_jurisdiction(actor, place_id)
    if place.level > PlaceLevel.STREET:
        message = _("Screen a street, a district or the city, not a smaller place.")
        raise ValidationFailed(message, details={"place": [message]})
    screening_round = _round_create(actor=actor, place=place, as_of=as_of)
    from .screening_tasks import round_run_task

    transaction.on_commit(lambda: round_run_task.enqueue(screening_round.pk))
    return screening_round


def round_streets(place: Place) -> list[Place]:
    """The streets under the place (or the place itself at street level), screened in turn."""
    if place.level >= PlaceLevel.STREET:
        return [place]
    streets = list(
        Place.objects.filter(level=PlaceLevel.STREET, path__under=place.path).order_by("path")
    )
    return streets or [place]


def _progress(round_id: int, **fields) -> None:
    ScreeningRound.objects.filter(pk=round_id).update(heartbeat_at=timezone.now(), **fields)


def round_run(*, round_id: int, by_street: bool = True) -> ScreeningRound:
    """Run a queued round street by street, saving progress and counts after each; idempotent
    (a round already claimed is left alone). Audits the summary once at the end."""
    claimed = ScreeningRound.objects.filter(pk=round_id, state=RoundState.QUEUED).update(
        state=RoundState.RUNNING, heartbeat_at=timezone.now()
    )
    screening_round = ScreeningRound.objects.select_related("place", "started_by").get(pk=round_id)
    if not claimed:
        return screening_round
    chunks = round_streets(screening_round.place) if by_street else [screening_round.place]
    _progress(round_id, total=len(chunks), processed=0)
    counts: dict[str, Any] = {}
    try:
        rule_data.ensure_default_rules()
        for done, place in enumerate(chunks, start=1):
            part = screen(place_path=place.path, as_of=screening_round.as_of, round=screening_round)
            merge_counts(counts, part)
            _progress(round_id, processed=done, counts=counts)
    except Exception:
        log.exception("screening round %s failed", round_id)
        _progress(
            round_id,
            state=RoundState.FAILED,
            failure=_("The screening stopped on an unexpected error. Start it again."),
            finished_at=timezone.now(),
        )
    else:
        with transaction.atomic():
            _progress(round_id, state=RoundState.DONE, counts=counts, finished_at=timezone.now())
            # The new alerts become home visits for the grid workers (monitoring.visits).
            from .visits_tasks import visits_create_task

            transaction.on_commit(visits_create_task.enqueue)
            screening_round.refresh_from_db()
            audit.record(
                actor=screening_round.started_by,
                action=AuditAction.UPDATE,
                instance=screening_round,
                label=str(screening_round),
                changes={
                    "state": [RoundState.RUNNING, RoundState.DONE],
                    "opened": [None, counts.get("opened", 0)],
                    "resolved": [None, counts.get("resolved", 0)],
                    "by_rule": [None, counts.get("by_rule", {})],
                    "by_severity": [None, counts.get("by_severity", {})],
                },
            )
    screening_round.refresh_from_db()
    return screening_round


def rounds_fail_stale() -> int:
    """Rounds whose worker died (no heartbeat for STALE_AFTER) are marked failed, which also
    frees the place for a new round."""
    limit = timezone.now() - STALE_AFTER
    return ScreeningRound.objects.filter(
        Q(state=RoundState.RUNNING, heartbeat_at__lt=limit)
        | Q(state=RoundState.RUNNING, heartbeat_at__isnull=True, created_at__lt=limit)
        | Q(state=RoundState.QUEUED, created_at__lt=limit - STALE_AFTER)
    ).update(
        state=RoundState.FAILED,
        failure=_("The screening stopped without finishing. Start it again."),
        finished_at=timezone.now(),
    )


def screen_now(*, place: Place, as_of: dt.date, actor: User | None = None) -> ScreeningRound:
    """Screen a place now, in this process, as one round (the `linli screen` command and the
    demo): the round row is recorded and audited like a background one."""
    screening_round = _round_create(actor=actor, place=place, as_of=as_of)
    return round_run(round_id=screening_round.pk, by_street=False)


def street_names(paths) -> dict[str, str]:
    return dict(Place.objects.filter(path__in=list(paths)).values_list("path", "name"))


def percent(screening_round: ScreeningRound) -> int:
    if screening_round.state == RoundState.DONE:
        return 100
    if not screening_round.total:
        return 0
    return min(100, int(100 * screening_round.processed / screening_round.total))


def not_done_message(screening_round: ScreeningRound) -> str:
    if screening_round.state == RoundState.FAILED:
        return screening_round.failure or _("The screening round failed. Start it again.")
    return _("The screening round has not finished yet: its report comes when it is done.")


def round_report(screening_round: ScreeningRound) -> dict[str, Any]:
    """The round's counts as tables: by rule (with the rule's name and severity), by severity
    and by street (with the street's name), largest first."""
    from .models import Severity

    counts = screening_round.counts or {}
    by_rule = counts.get("by_rule", {})
    rules = {r.code: r for r in rule_data.rules_in_force(screening_round.as_of)}
    streets = counts.get("by_street", {})
    names = street_names(streets)
    return {
        "households": counts.get("households", 0),
        "opened": counts.get("opened", 0),
        "resolved": counts.get("resolved", 0),
        "held": counts.get("held", 0),
        "by_rule": sorted(
            (
                {
                    "code": code,
                    "name": rule_data.rule_name(rules[code]) if code in rules else code,
                    "severity": rules[code].severity if code in rules else None,
                    "hits": n,
                }
                for code, n in by_rule.items()
            ),
            key=lambda row: (-row["hits"], row["code"]),
        ),
        "by_severity": [
            {
                "severity": int(s),
                "label": str(s.label),
                "hits": counts.get("by_severity", {}).get(str(s.value), 0),
            }
            for s in reversed(Severity)
        ],
        "by_street": sorted(
            (
                {"street": path, "name": names.get(path, path or _("(no street)")), "hits": n}
                for path, n in streets.items()
            ),
            key=lambda row: (-row["hits"], row["street"]),
        ),
    }
