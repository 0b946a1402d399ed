"""Registry facts assistance decisions cite, through the services: capacity to work, death,
serious illnesses, self-care assessments, legal supporters and bank accounts — happy paths,
refusals by role and jurisdiction, hostile and malformed input, voiding."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from linli.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from linli.core.models import AuditAction, AuditEntry
from linli.core.roles import Role
from linli.core.testing.factories import make_id_number, make_user
from linli.people import selectors, services
from linli.people.models import (
    BankAccount,
    LegalSupporter,
    Person,
    RecordStatus,
    SelfCareAssessment,
    SelfCareLevel,
    SeriousIllness,
    level_of_self_care,
)

TODAY = dt.date(2026, 6, 15)


@pytest.fixture(autouse=True)
def frozen_today():
    with time_machine.travel(dt.datetime(2026, 6, 15, 10, 0, tzinfo=dt.UTC), tick=False):
        yield


def illness(actor, person, **extra):
    values = {"illness": "尿毒症", "diagnosed_on": dt.date(2025, 3, 1), "hospital": "市人民医院"}
    return services.serious_illness_record(actor=actor, person_id=person.id, **{**values, **extra})


def assessment(actor, person, managed=6, **extra):
    items = ("eating", "dressing", "bed_transfer", "toileting", "indoor_walking", "bathing")
    values = {"assessed_on": dt.date(2026, 5, 1), "assessor": "王医生"}
    values.update({item: index < managed for index, item in enumerate(items)})
    return services.self_care_assessment_record(
        actor=actor, person_id=person.id, **{**values, **extra}
    )


def account(actor, person, number="6222 0212 3456 7890", **extra):
    values = {"bank": "工商银行", "account_number": number, "holder_name": person.name}
    return services.bank_account_set(actor=actor, person_id=person.id, **{**values, **extra})


# --- capacity to work and death -------------------------------------------------------------


def test_capacity_to_work_is_set_audited_and_cleared(people, grid_worker):
    person = services.person_set_work_capacity(
        actor=grid_worker, person_id=people.head.id, work_capacity="none"
    )
    assert Person.objects.get(pk=person.pk).work_capacity == "none"
    entry = AuditEntry.objects.for_object(person).get(action=AuditAction.UPDATE)
    assert entry.changes == {"work_capacity": ["", "none"]}
    services.person_set_work_capacity(actor=grid_worker, person_id=person.id, work_capacity="")
    assert Person.objects.get(pk=person.pk).work_capacity == ""
    with pytest.raises(ValidationFailed) as exc:
        services.person_set_work_capacity(
            actor=grid_worker, person_id=person.id, work_capacity="<b>lazy</b>"
        )
    assert "work_capacity" in exc.value.details


def test_death_sets_status_and_date_and_may_be_corrected(people, grid_worker):
    person = services.person_record_death(
        actor=grid_worker, person_id=people.head.id, died_on=dt.date(2026, 6, 1)
    )
    stored = Person.objects.get(pk=person.pk)
    assert (stored.status, stored.died_on) == (RecordStatus.DECEASED, dt.date(2026, 6, 1))
    services.person_record_death(
        actor=grid_worker, person_id=person.id, died_on=dt.date(2026, 5, 31)
    )
    assert Person.objects.get(pk=person.pk).died_on == dt.date(2026, 5, 31)
    changes = [e.changes for e in AuditEntry.objects.for_object(person).order_by("id")]
    assert {"status": ["active", "deceased"], "died_on": [None, "2026-06-01"]} in changes
    assert {"died_on": ["2026-06-01", "2026-05-31"]} in changes


def test_a_death_recorded_by_mistake_is_undone_with_its_date(people, grid_worker):
    services.person_record_death(actor=grid_worker, person_id=people.head.id, died_on=TODAY)
    services.person_set_status(actor=grid_worker, person_id=people.head.id, status="active")
    person = Person.objects.get(pk=people.head.pk)
    assert (person.status, person.died_on) == ("active", None)


@pytest.mark.parametrize(
    "died_on, field_message",
    [
        (TODAY + dt.timedelta(days=1), "future"),
        (dt.date(1949, 12, 31), "birth date"),  # the head was born on 1950-03-01
    ],
)
def test_death_refuses_a_future_date_and_one_before_birth(
    people, grid_worker, died_on, field_message
):
    with pytest.raises(ValidationFailed, match=field_message) as exc:
        services.person_record_death(actor=grid_worker, person_id=people.head.id, died_on=died_on)
    assert "died_on" in exc.value.details
    assert Person.objects.get(pk=people.head.pk).status == RecordStatus.ACTIVE


def test_death_today_is_accepted(people, grid_worker):
    services.person_record_death(actor=grid_worker, person_id=people.head.id, died_on=TODAY)
    assert Person.objects.get(pk=people.head.pk).died_on == TODAY


def test_writes_outside_the_jurisdiction_are_not_found_and_need_the_role(
    people, grid_worker, auditor
):
    other = people.other_head
    calls = [
        lambda actor: services.person_record_death(actor=actor, person_id=other.id, died_on=TODAY),
        lambda actor: services.person_set_work_capacity(
            actor=actor, person_id=other.id, work_capacity="none"
        ),
        lambda actor: illness(actor, other),
        lambda actor: assessment(actor, other),
        lambda actor: account(actor, other),
        lambda actor: services.legal_supporter_add(
            actor=actor,
            person_id=other.id,
            relation="child",
            able_to_support=True,
            supporter_name="李四",
        ),
    ]
    for call in calls:
        with pytest.raises(NotFound):
            call(grid_worker)
        with pytest.raises(PermissionDenied):
            call(auditor)  # reads the registry, never writes it
    other.refresh_from_db()
    assert (other.status, other.work_capacity) == ("active", "")
    for model in (SeriousIllness, SelfCareAssessment, BankAccount, LegalSupporter):
        assert not model.objects.exists()


# --- serious illnesses ----------------------------------------------------------------------


def test_illness_is_recorded_scoped_audited_and_voided(people, grid_worker, neighbour):
    fact = illness(grid_worker, people.head)
    assert (fact.place_path, fact.recorded_by) == (people.head.place_path, grid_worker)
    entry = AuditEntry.objects.for_object(fact).get()
    assert entry.object_label == "张*山 · 尿毒症"
    assert list(selectors.illnesses_for(neighbour, people.head)) == []
    with pytest.raises(NotFound):
        services.serious_illness_void(actor=neighbour, illness_id=fact.id, reason="wrong")
    with pytest.raises(ValidationFailed) as exc:
        services.serious_illness_void(actor=grid_worker, illness_id=fact.id, reason=" \u200b ")
    assert "reason" in exc.value.details
    services.serious_illness_void(actor=grid_worker, illness_id=fact.id, reason="录错人")
    voided = SeriousIllness.objects.get(pk=fact.pk)  # kept, never deleted
    assert voided.voided_at is not None and voided.void_reason == "录错人"
    assert list(selectors.illnesses_for(grid_worker, people.head)) == []
    with pytest.raises(Conflict):
        services.serious_illness_void(actor=grid_worker, illness_id=fact.id, reason="again")


def test_illness_dates_must_be_ordered_and_past(people, grid_worker):
    with pytest.raises(ValidationFailed) as exc:
        illness(grid_worker, people.head, diagnosed_on=TODAY + dt.timedelta(days=1))
    assert "diagnosed_on" in exc.value.details
    with pytest.raises(ValidationFailed) as exc:
        illness(grid_worker, people.head, ended_on=dt.date(2025, 2, 28))
    assert "ended_on" in exc.value.details
    with pytest.raises(ValidationFailed) as exc:
        illness(grid_worker, people.child, diagnosed_on=dt.date(1985, 6, 14))
    assert "diagnosed_on" in exc.value.details
    assert not SeriousIllness.objects.exists()


@pytest.mark.parametrize(
    "field, value",
    [("illness", "尿毒\x00症"), ("illness", "\u200b \u200b"), ("hospital", "医院\x1b[31m")],
)
def test_illness_text_refuses_control_characters_and_invisible_only(
    people, grid_worker, field, value
):
    with pytest.raises(ValidationFailed) as exc:
        illness(grid_worker, people.head, **{field: value})
    assert field in exc.value.details
    assert not SeriousIllness.objects.exists()


def test_html_in_an_illness_is_kept_as_text(people, grid_worker):
    fact = illness(grid_worker, people.head, illness="<script>alert(1)</script>")
    assert SeriousIllness.objects.get(pk=fact.pk).illness == "<script>alert(1)</script>"


def test_oversized_illness_name_names_the_field(people, grid_worker):
    with pytest.raises(ValidationFailed) as exc:
        illness(grid_worker, people.head, illness="病" * 101)
    assert "illness" in exc.value.details


# --- self-care ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "managed, level",
    [
        (6, SelfCareLevel.INDEPENDENT),
        (5, SelfCareLevel.PARTIAL),
        (3, SelfCareLevel.PARTIAL),
        (2, SelfCareLevel.DEPENDENT),
        (0, SelfCareLevel.DEPENDENT),
    ],
)
def test_self_care_level_follows_the_items_not_managed(people, grid_worker, managed, level):
    fact = assessment(grid_worker, people.head, managed=managed)
    assert fact.items_not_managed == 6 - managed
    assert fact.level == level


def test_latest_current_assessment_is_the_one_in_force(people, grid_worker):
    older = assessment(grid_worker, people.head, managed=6, assessed_on=dt.date(2025, 1, 1))
    newer = assessment(grid_worker, people.head, managed=1, assessed_on=dt.date(2026, 1, 1))
    facts = selectors.person_facts(grid_worker, people.head)
    assert facts.latest_self_care == newer
    row = next(r for r in facts.self_care if r.fact == newer)
    assert row.not_managed == [
        "dressing",
        "getting in and out of bed",
        "using the toilet",
        "walking indoors",
        "bathing",
    ]
    services.self_care_assessment_void(actor=grid_worker, assessment_id=newer.id, reason="重评")
    assert selectors.person_facts(grid_worker, people.head).latest_self_care == older


def test_self_care_refuses_future_dates_and_a_missing_assessor(people, grid_worker):
    with pytest.raises(ValidationFailed) as exc:
        assessment(grid_worker, people.head, assessed_on=TODAY + dt.timedelta(days=1))
    assert "assessed_on" in exc.value.details
    with pytest.raises(ValidationFailed) as exc:
        assessment(grid_worker, people.head, assessor="  \u3000 ")
    assert "assessor" in exc.value.details
    with pytest.raises(ValidationFailed) as exc:
        assessment(grid_worker, people.head, assessor="王\x07医生")
    assert "assessor" in exc.value.details


@settings(max_examples=64, deadline=None)
@given(st.lists(st.booleans(), min_size=6, max_size=6))
def test_level_is_monotone_in_items_not_managed(items):
    """Losing one more item never makes a person more self-caring."""
    order = [SelfCareLevel.INDEPENDENT, SelfCareLevel.PARTIAL, SelfCareLevel.DEPENDENT]
    missing = items.count(False)
    level = order.index(level_of_self_care(missing))
    assert level <= order.index(level_of_self_care(min(6, missing + 1)))
    assert (level == 0) == (missing == 0)


# --- legal supporters -----------------------------------------------------------------------


def test_supporter_by_name_outside_the_registry(people, grid_worker):
    fact = services.legal_supporter_add(
        actor=grid_worker,
        person_id=people.head.id,
        relation="child",
        able_to_support=False,
        assessment="外地务工，收入低",
        supporter_name=" 张小海 ",
    )
    assert (fact.supporter, fact.supporter_name) == (None, "张小海")
    [row] = selectors.supporters_for(grid_worker, people.head)
    assert (row.name, row.in_registry, row.visible_person_id) == ("张小海", False, None)
    with pytest.raises(ValidationFailed, match="already recorded"):
        services.legal_supporter_add(
            actor=grid_worker,
            person_id=people.head.id,
            relation="child",
            able_to_support=True,
            supporter_name="张小海",
        )


def test_supporter_in_the_jurisdiction_is_linked_by_id_number(people, grid_worker):
    fact = services.legal_supporter_add(
        actor=grid_worker,
        person_id=people.head.id,
        relation="child",
        able_to_support=True,
        supporter_id_number=people.child.id_number.lower(),
    )
    assert fact.supporter == people.child
    [row] = selectors.supporters_for(grid_worker, people.head)
    assert (row.name, row.visible_person_id) == (people.child.name, people.child.id)
    # One entry, at the person's place: nothing was looked up outside.
    assert AuditEntry.objects.for_object(fact).count() == 1
    history = selectors.person_history(grid_worker, people.child)
    assert history.filter(object_type="people.legalsupporter").count() == 1


def test_supporter_elsewhere_is_shown_by_masked_name_and_the_link_is_logged_there(
    town, people, grid_worker, neighbour
):
    """A child registered in another jurisdiction: found by full ID number, shown only as
    a masked name, and the holding office's audit log records who linked them."""
    fact = services.legal_supporter_add(
        actor=grid_worker,
        person_id=people.head.id,
        relation="child",
        able_to_support=True,
        supporter_id_number=people.other_child.id_number,
    )
    [row] = selectors.supporters_for(grid_worker, people.head)
    assert row.name == "李*川" and row.in_registry and row.visible_person_id is None
    entries = AuditEntry.objects.for_object(fact)
    assert {e.place_path for e in entries} == {
        people.head.place_path,
        people.other_child.place_path,
    }
    copy = entries.get(place_path=people.other_child.place_path)
    assert copy.changes["registered_elsewhere"] == people.other_child.id_masked
    assert people.other_child.id_number not in str([e.changes for e in entries])
    # The holding office's auditor finds the copy in their audit log; the asking side's
    # auditor of the other street does not see where the supporter is registered.
    holding_auditor = make_user("aud-b", Role.AUDITOR, [town.other_street])
    asking_auditor = make_user("aud-a", Role.AUDITOR, [town.street])
    supporters_log = AuditEntry.objects.filter(object_type="people.legalsupporter")
    assert list(supporters_log.restrict(holding_auditor)) == [copy]
    assert copy not in supporters_log.restrict(asking_auditor)
    # The person's own history shows the link once; the holding office sees it on theirs.
    own = selectors.person_history(grid_worker, people.head)
    assert own.filter(object_type="people.legalsupporter").count() == 1
    assert (
        selectors.person_history(neighbour, people.other_child)
        .filter(object_type="people.legalsupporter")
        .exists()
    )


@pytest.mark.parametrize(
    "values, field, message",
    [
        ({}, "supporter_name", "ID number"),
        ({"supporter_name": "\u200b"}, "supporter_name", "ID number"),
        ({"supporter_id_number": "x", "supporter_name": "张三"}, "supporter_id_number", "not both"),
        ({"supporter_id_number": "37050219800101001"}, "supporter_id_number", "18 characters"),
        ({"supporter_name": "张\x00三"}, "supporter_name", "control character"),
        ({"supporter_name": "张" * 51}, "supporter_name", "50"),
    ],
)
def test_supporter_input_is_checked(people, grid_worker, values, field, message):
    with pytest.raises(ValidationFailed) as exc:
        services.legal_supporter_add(
            actor=grid_worker,
            person_id=people.head.id,
            relation="child",
            able_to_support=True,
            **values,
        )
    assert field in exc.value.details
    assert message in " ".join(exc.value.details[field]) + exc.value.message
    assert not LegalSupporter.objects.exists()


def test_unknown_id_number_and_oneself_are_refused(people, grid_worker):
    for number, message in (
        (make_id_number(birth=dt.date(1979, 9, 9)), "No one with this ID number"),
        (people.head.id_number, "own supporter"),
    ):
        with pytest.raises(ValidationFailed, match=message) as exc:
            services.legal_supporter_add(
                actor=grid_worker,
                person_id=people.head.id,
                relation="child",
                able_to_support=True,
                supporter_id_number=number,
            )
        assert "supporter_id_number" in exc.value.details
    with pytest.raises(ValidationFailed) as exc:
        services.legal_supporter_add(
            actor=grid_worker,
            person_id=people.head.id,
            relation="cousin",
            able_to_support=True,
            supporter_name="张三",
        )
    assert "relation" in exc.value.details


def test_void_supporter_then_the_same_one_may_be_added_again(people, grid_worker):
    values = {"relation": "spouse", "able_to_support": False, "supporter_name": "王芳"}
    first = services.legal_supporter_add(actor=grid_worker, person_id=people.head.id, **values)
    services.legal_supporter_void(actor=grid_worker, supporter_id=first.id, reason="已离婚")
    again = services.legal_supporter_add(actor=grid_worker, person_id=people.head.id, **values)
    assert [r.fact for r in selectors.supporters_for(grid_worker, people.head)] == [again]
    rows = selectors.supporters_for(grid_worker, people.head, include_void=True)
    assert [r.fact for r in rows] == [again, first]  # current first


# --- bank accounts --------------------------------------------------------------------------


def test_bank_account_is_normalised_masked_in_the_audit_and_replaced(people, grid_worker):
    first = account(grid_worker, people.head, number="６２２２ ０２１２ ３４５６ ７８９０")
    assert first.account_number == "6222021234567890"
    assert first.account_masked == "6222********7890"
    entry = AuditEntry.objects.for_object(first).get()
    assert entry.changes["account_number"] == [None, "6222********7890"]
    assert "6222021234567890" not in str(entry.changes) + entry.object_label
    second = account(grid_worker, people.head, number="6217000011112222333")
    first.refresh_from_db()
    assert first.voided_at is not None and first.void_reason
    assert list(BankAccount.objects.current().filter(person=people.head)) == [second]


@pytest.mark.parametrize(
    "number",
    ["12345", "1" * 33, "6222-0212-3456", "62220212345678９0x", "<b>622202</b>", "６２２２٣٤٥٦٧٨"],
)
def test_bank_account_number_is_digits_only_six_to_thirty_two(people, grid_worker, number):
    with pytest.raises(ValidationFailed) as exc:
        account(grid_worker, people.head, number=number)
    assert "account_number" in exc.value.details
    assert not BankAccount.objects.exists()


def test_luhn_is_not_required(people, grid_worker):
    assert account(grid_worker, people.head, number="6222021234567891").pk


@pytest.mark.parametrize(
    "values, field",
    [
        ({"holder_name": "张\x00大山"}, "holder_name"),
        ({"holder_name": "\u200b"}, "holder_name"),
        ({"bank": ""}, "bank"),
        ({"bank": "工行\x1b"}, "bank"),
        ({"holder_name": "张" * 51}, "holder_name"),
    ],
)
def test_bank_and_holder_are_required_and_clean(people, grid_worker, values, field):
    with pytest.raises(ValidationFailed) as exc:
        account(grid_worker, people.head, **values)
    assert field in exc.value.details


def test_html_in_the_holder_name_is_stored_as_text(people, grid_worker):
    fact = account(grid_worker, people.head, holder_name="<img src=x onerror=alert(1)>")
    assert BankAccount.objects.get(pk=fact.pk).holder_name == "<img src=x onerror=alert(1)>"


def test_setting_the_same_account_again_is_a_clear_refusal(people, grid_worker):
    account(grid_worker, people.head)
    with pytest.raises(ValidationFailed, match="already the one") as exc:
        account(grid_worker, people.head)
    assert "account_number" in exc.value.details
    assert BankAccount.objects.filter(person=people.head).count() == 1


def test_the_database_holds_one_active_account_per_person(people, grid_worker):
    first = account(grid_worker, people.head)
    duplicate = BankAccount(
        person=first.person, bank="农业银行", account_number="6228480000000000", holder_name="x"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()


@pytest.mark.django_db(transaction=True)
def test_concurrent_account_changes_leave_exactly_one_active(people, admin):
    """Four offices save an account for one person at once: each save replaces the one
    before it (the person's row is locked), none is lost from the history, one is active."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL")
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def attempt(i: int) -> None:
        from django.db import connection as thread_connection

        barrier.wait()
        try:
            account(admin, people.head, number=f"62220000000000{i:02d}")
            outcomes.append("saved")
        except Conflict:
            outcomes.append("conflict")
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert BankAccount.objects.current().filter(person=people.head).count() == 1
    saved = outcomes.count("saved")
    assert saved >= 1 and len(outcomes) == 4
    assert BankAccount.objects.filter(person=people.head).count() == saved


def test_reveal_is_logged_each_time_and_needs_the_role(people, grid_worker, auditor, neighbour):
    fact = account(grid_worker, people.head)
    for _ in range(2):
        full = services.bank_account_reveal(actor=grid_worker, account_id=fact.id)
        assert full["account_number"] == "6222021234567890"
    entries = AuditEntry.objects.filter(action=AuditAction.REVEAL, object_id=str(fact.id))
    assert entries.count() == 2
    assert all(e.changes == {"fields": ["account_number"]} for e in entries)
    assert "6222021234567890" not in str([e.object_label for e in entries])
    with pytest.raises(PermissionDenied):
        services.bank_account_reveal(actor=auditor, account_id=fact.id)
    with pytest.raises(NotFound):
        services.bank_account_reveal(actor=neighbour, account_id=fact.id)
    assert entries.count() == 2


def test_void_bank_account(people, grid_worker):
    fact = account(grid_worker, people.head)
    services.bank_account_void(actor=grid_worker, account_id=fact.id, reason="销户")
    assert not BankAccount.objects.current().exists()
    assert selectors.person_facts(grid_worker, people.head).bank_account is None


# --- facts follow the person ------------------------------------------------------------------


def test_facts_follow_their_household_to_its_new_place(town, people, admin, grid_worker):
    facts = [
        illness(admin, people.head),
        assessment(admin, people.head),
        account(admin, people.head),
        services.legal_supporter_add(
            actor=admin,
            person_id=people.head.id,
            relation="child",
            able_to_support=True,
            supporter_name="张三",
        ),
    ]
    services.household_update(
        actor=admin, household_id=people.household.id, building_id=town.other_building.id
    )
    for fact in facts:
        fact.refresh_from_db()
        assert fact.place_path == town.other_building.path
    assert list(selectors.illnesses_for(grid_worker, people.head)) == []


def test_facts_follow_a_person_moving_household(people, admin):
    fact = illness(admin, people.child)
    services.person_update(
        actor=admin, person_id=people.child.id, household_id=people.other_household.id
    )
    fact.refresh_from_db()
    assert fact.place_path == people.other_household.place_path


# --- finer income kinds ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind", ["wage", "transfer", "basic_pension", "scholarship", "elderly_allowance"]
)
def test_income_kinds_old_and_new_are_recorded(people, grid_worker, kind):
    record = services.financial_record_create(
        actor=grid_worker,
        person_id=people.head.id,
        category="income",
        kind=kind,
        amount=Decimal("300.00"),
        valid_from=dt.date(2026, 1, 1),
    )
    assert record.kind == kind and not record.new_employment


def test_new_employment_is_for_wages_only(people, grid_worker):
    values = {
        "actor": grid_worker,
        "person_id": people.head.id,
        "category": "income",
        "amount": Decimal("2100.00"),
        "valid_from": dt.date(2026, 3, 1),
        "new_employment": True,
    }
    record = services.financial_record_create(kind="wage", **values)
    assert record.new_employment
    entry = AuditEntry.objects.for_object(record).get()
    assert entry.changes["new_employment"] == [None, True]
    with pytest.raises(ValidationFailed) as exc:
        services.financial_record_create(kind="scholarship", **values)
    assert "new_employment" in exc.value.details


def test_kind_must_belong_to_the_category(people, grid_worker):
    with pytest.raises(ValidationFailed, match="does not belong"):
        services.financial_record_create(
            actor=grid_worker,
            person_id=people.head.id,
            category="asset",
            kind="basic_pension",
            amount=Decimal("1"),
            valid_from=dt.date(2026, 1, 1),
        )
