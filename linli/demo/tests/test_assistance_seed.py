"""The demo city's assistance (`linli seed_assistance`), checked once on a 2,000-household city
seeded on a fixed day (rolled back after the module), and for determinism on a small one."""

import collections
import datetime as dt
import hashlib
import io

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from linli.assistance import engine, snapshot
from linli.assistance.models import (
    Application,
    ApplicationState,
    Benefit,
    BenefitStatus,
    CreditPenalty,
    CycleState,
    Finding,
    FindingKind,
    Payment,
    PaymentCycle,
    PaymentStatus,
    Program,
    Recovery,
    Review,
    Simulation,
    SimulationState,
    StaffRelative,
)
from linli.assistance.transitions import PATHS
from linli.core.models import User
from linli.core.roles import Role
from linli.people.models import BankAccount, FinancialRecord, Person, RecordStatus

HOUSEHOLDS = 2000
# A fixed morning, so the seeded dates (relative to today) are the same in every run.
MOMENT = dt.datetime(2026, 12, 2, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
S = ApplicationState
RUNNING = (BenefitStatus.ACTIVE, BenefitStatus.PHASING_OUT, BenefitStatus.SUSPENDED)


def _quiet(command: str, **options) -> str:
    out = io.StringIO()
    call_command(command, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


# These two run first, before the module's city exists (it stays until the module ends).


def test_an_empty_registry_is_refused(db):
    with pytest.raises(CommandError, match="linli seed"):
        _quiet("seed_assistance")


def _digest() -> str:
    """The assistance rows by their content (ids of new rows differ between databases)."""
    digest = hashlib.sha256()
    tables = (
        Application.objects.values_list(
            "household__number", "applicant__id_number", "program", "state", "channel",
            "approval_tier", "amount", "classification", "created_at", "accepted_on",
            "decision_due", "notice_from", "credit_route", "paid_first",
        ),
        Benefit.objects.values_list(
            "household__number", "recipient__id_number", "program", "status", "monthly_amount",
            "start_month", "next_review_on", "persons_covered",
        ),
        Payment.objects.values_list(
            "recipient__id_number", "program", "month", "amount", "status", "account_number",
        ),
        BankAccount.objects.values_list("person__id_number", "bank", "account_number"),
    )  # fmt: skip
    for rows in tables:
        for row in sorted(rows, key=repr):
            digest.update(repr(row).encode())
    return digest.hexdigest()


class _Discard(Exception):
    pass


def _assistance_digest(seed: int) -> str:
    try:
        with transaction.atomic():
            _quiet("seed_assistance", seed=seed)
            digest = _digest()
            raise _Discard
    except _Discard:
        pass
    assert not Benefit.objects.exists()
    return digest


def test_same_city_and_seed_give_the_same_caseload(db):
    with time_machine.travel(MOMENT, tick=False):
        _quiet("seed", households=400, seed=9)
        first, again, other = (_assistance_digest(s) for s in (4, 4, 5))
    assert first == again != other


@pytest.fixture(scope="module")
def city(django_db_setup, django_db_blocker):
    with (
        django_db_blocker.unblock(),
        time_machine.travel(MOMENT, tick=False),
        transaction.atomic(),
    ):
        _quiet("seed", households=HOUSEHOLDS, seed=5)
        printed = _quiet("seed_assistance", seed=5)
        yield printed
        transaction.set_rollback(True)


@pytest.fixture
def today(city):
    with time_machine.travel(MOMENT, tick=False):
        yield timezone.localdate()


def test_two_to_three_percent_of_persons_receive_the_minimum_living_guarantee(city, db):
    assert "benefits" in city
    persons = Person.objects.filter(status=RecordStatus.ACTIVE).count()
    covered = Benefit.objects.filter(program=Program.MINIMUM_LIVING, status__in=RUNNING).aggregate(
        n=Sum("persons_covered")
    )["n"]
    assert 0.018 <= covered / persons <= 0.032
    households = Benefit.objects.filter(program=Program.MINIMUM_LIVING, status__in=RUNNING)
    assert households.filter(classification="household").exists()
    assert households.filter(covers_person_only=True).exists()  # 单人保
    marginal = Benefit.objects.filter(program=Program.MARGINAL, status=BenefitStatus.ACTIVE)
    assert marginal.exists() and not marginal.exclude(monthly_amount=0).exists()


def test_extreme_poverty_recipients_meet_the_three_conditions(city, today):
    benefits = Benefit.objects.filter(
        program=Program.EXTREME_POVERTY, status__in=RUNNING
    ).select_related("recipient")
    assert benefits.count() >= HOUSEHOLDS // 400
    for benefit in benefits:
        person = benefit.recipient
        assert benefit.covers_person_only and benefit.persons_covered == 1
        assert person.work_capacity == "none" or engine.age_on(person.birth_date, today) >= 60
        assert not person.supporters.filter(able_to_support=True, voided_at=None).exists()
    # The care tiers of the self-care assessment, all three (on approvals and open ones).
    eligible = Application.objects.filter(program=Program.EXTREME_POVERTY).exclude(state=S.REJECTED)
    levels = {c.split("/")[-1] for c in eligible.values_list("classification", flat=True)}
    assert levels == {"independent", "partial", "dependent"}


def test_benefit_amounts_are_the_engines(city, today):
    """The amounts come from the engine on snapshots read in bulk: the engine on the
    registry's own snapshot agrees (planted anomalies and gradual exits aside)."""
    benefits = (
        Benefit.objects.filter(
            program__in=(Program.MINIMUM_LIVING, Program.EXTREME_POVERTY),
            status=BenefitStatus.ACTIVE,
            recipient__status=RecordStatus.ACTIVE,
        )
        .exclude(household__finances__kind="vehicle")
        .select_related("household", "policy_version")
        .order_by("id")
    )
    assert benefits.count() > 30
    for benefit in benefits[::3]:
        assessment = engine.assess(
            snapshot.household_snapshot(benefit.household, today),
            benefit.policy_version.params,
            today,
            programs=[benefit.program],
        )
        result = assessment.results[benefit.program]
        assert result.eligible, benefit
        if benefit.covers_person_only:
            covered = {p.key: p.monthly_amount for p in result.covered}
            assert covered[str(benefit.recipient_id)] == benefit.monthly_amount
        else:
            assert result.monthly_amount == benefit.monthly_amount
            assert result.persons_covered == benefit.persons_covered


def test_every_state_of_every_program_path(city, db):
    seen = collections.defaultdict(set)
    for program, state in Application.objects.values_list("program", "state").distinct():
        seen[program].add(state)
    assert set().union(*seen.values()) == set(ApplicationState.values)
    for program, path in PATHS.items():
        expected = set(ApplicationState.values)
        if not path.sampled:
            expected.discard(S.SAMPLED)
        if not path.notice:
            expected -= {S.INVESTIGATED, S.IN_NOTICE}
        assert seen[program] == expected, program
    # Every running benefit rests on an approved application of its program and household.
    for benefit in Benefit.objects.select_related("application"):
        assert benefit.application.state == S.APPROVED
        assert benefit.application.program == benefit.program
        assert benefit.application.household_id == benefit.household_id


def test_time_limits_run_from_today(city, today):
    notice = Application.objects.filter(state=S.IN_NOTICE)
    assert notice and all(a.notice_from <= today <= a.notice_to for a in notice)
    assert Application.objects.filter(overdue_since__isnull=False).exists()
    assert Application.objects.filter(state=S.ACCEPTED, investigation_due__lt=today).exists()
    first = Application.objects.filter(paid_first=True, documents_received_on=None)
    assert first.exists() and all(a.documents_due for a in first)
    credit = Application.objects.filter(credit_route=True, state=S.AWAITING_DECISION)
    assert credit.exists() and all(a.pledge_signed_at for a in credit)
    assert Application.objects.filter(state=S.SAMPLED, district_sampled=True).exists()
    assert Review.objects.filter(due_on__lt=today, state="overdue").exists()
    assert Review.objects.filter(due_on__gte=today, state="due").exists()
    starts = set(Benefit.objects.values_list("start_month", flat=True))
    assert min(starts) <= today.replace(day=1) - dt.timedelta(days=365)
    for application in Application.objects.filter(state=S.APPROVED, paid_first=False)[:50]:
        assert application.decided_at.date() <= today


def test_a_failed_pledge_stopped_its_benefit_with_a_recovery_and_a_penalty(city, db):
    penalty = CreditPenalty.objects.select_related("application").get()
    assert penalty.application.verification_failed and penalty.application.credit_route
    benefit = penalty.application.benefits.get()
    assert benefit.status == BenefitStatus.STOPPED and benefit.end_month
    assert Recovery.objects.filter(benefit=benefit).exists()
    withheld = Recovery.objects.exclude(benefit=benefit).get()
    assert withheld.recovered > 0  # deducted from a reconciled cycle


def test_nobody_is_paid_twice_and_failed_payments_are_retried(city, db):
    twice = (
        Payment.objects.exclude(status=PaymentStatus.FAILED)
        .values("recipient", "program", "month")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert not twice.exists()
    failed = Payment.objects.filter(status=PaymentStatus.FAILED)
    assert failed.exists()
    for payment in failed:
        assert payment.failure_reason
        assert (
            Payment.objects.filter(
                recipient=payment.recipient, program=payment.program, month=payment.month
            )
            .exclude(pk=payment.pk)
            .exists()
        )


def test_three_months_of_cycles_per_street(city, today):
    this_month = today.replace(day=1)
    months = sorted(set(PaymentCycle.objects.values_list("month", flat=True)))
    assert months[-1] == this_month and len(months) == 3
    states = dict(PaymentCycle.objects.values_list("month", "state").distinct())
    assert [states[m] for m in months] == [
        CycleState.RECONCILED,
        CycleState.APPROVED,
        CycleState.REVIEW,
    ]
    streets = set(
        Benefit.objects.filter(program=Program.MINIMUM_LIVING, status__in=RUNNING).values_list(
            "street_path", flat=True
        )
    )
    for month in months:
        cycles = PaymentCycle.objects.filter(month=month, program=Program.MINIMUM_LIVING)
        assert {c.street.path for c in cycles} == streets
    for cycle in PaymentCycle.objects.all():
        assert cycle.approved_by_id != cycle.prepared_by_id
        totals = cycle.payments.aggregate(n=Count("id"), total=Sum("amount"))
        assert (cycle.payment_count, cycle.total_amount) == (totals["n"], totals["total"])
    assert not Payment.objects.filter(cycle__state=CycleState.RECONCILED, status="pending")


def test_every_recipient_has_a_bank_account(city, db):
    recipients = set(
        Benefit.objects.filter(status__in=RUNNING).values_list("recipient_id", flat=True)
    )
    accounts = set(
        BankAccount.objects.filter(person_id__in=recipients, voided_at=None).values_list(
            "person_id", flat=True
        )
    )
    assert recipients == accounts
    unpaid = Payment.objects.filter(account_number="")
    assert not unpaid.exists()


def test_the_planted_anomalies_are_there_and_found(city, db):
    shared = (
        BankAccount.objects.filter(voided_at=None)
        .values("account_number")
        .annotate(n=Count("person__household", distinct=True))
        .filter(n__gt=1)
    )
    assert shared.count() == 1
    dead = Person.objects.get(status=RecordStatus.DECEASED)
    assert Payment.objects.filter(recipient=dead, month__gt=dead.died_on).exists()
    assert FinancialRecord.objects.filter(
        kind="vehicle", household__assistance_benefits__program=Program.MINIMUM_LIVING
    ).exists()
    relative = StaffRelative.objects.get()
    assert relative.staff.username == Role.COMMUNITY_WORKER
    assert relative.person.assistance_benefits.exists()
    kinds = set(Finding.objects.values_list("kind", flat=True))
    assert {
        FindingKind.SHARED_ACCOUNT,
        FindingKind.PAID_AFTER_DEATH,
        FindingKind.OVER_ASSET_LIMIT,
        FindingKind.STAFF_RELATIVE,
    } <= kinds


def test_the_demo_accounts_find_work_waiting(city, db):
    def user(role):
        return User.objects.get(username=role)

    def visible(model, role):
        return model.objects.restrict(user(role), "view")

    street = visible(Application, Role.STREET_OFFICER)
    assert street.filter(state=S.SUBMITTED).exists()
    assert street.filter(state=S.AWAITING_DECISION, approval_tier="street").exists()
    assert visible(Application, Role.COMMUNITY_WORKER).filter(state=S.ACCEPTED).exists()
    district = visible(Application, Role.CIVIL_AFFAIRS)
    assert district.filter(state=S.AWAITING_DECISION, approval_tier="district").exists()
    assert district.filter(state=S.SAMPLED).exists()
    waiting = visible(PaymentCycle, Role.CIVIL_AFFAIRS).filter(state=CycleState.REVIEW)
    assert waiting.filter(prepared_by__username=Role.STREET_OFFICER).exists()
    assert visible(Finding, Role.CIVIL_AFFAIRS).exists()


def test_a_simulation_is_done(city, db):
    simulation = Simulation.objects.get()
    assert simulation.state == SimulationState.DONE
    assert simulation.result["streets"] and simulation.result["totals"]["households"] > 0


def test_if_empty_keeps_what_is_there(city, db):
    before = (Benefit.objects.count(), Application.objects.count(), Payment.objects.count())
    err = io.StringIO()
    call_command("seed_assistance", if_empty=True, stdout=io.StringIO(), stderr=err)
    assert "nothing generated" in err.getvalue()
    assert (Benefit.objects.count(), Application.objects.count(), Payment.objects.count()) == (
        before
    )
