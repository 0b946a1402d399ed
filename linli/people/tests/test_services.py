import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection

from linli.core.errors import NotFound, PermissionDenied, ValidationFailed
from linli.core.models import AuditEntry
from linli.core.testing.factories import make_id_number
from linli.people import services
from linli.people.models import FinancialRecord, Household, Person


def test_create_derives_birth_date_and_sex_and_audits_masked(people, grid_worker):
    number = make_id_number(birth=dt.date(2001, 2, 3), sex="F")
    person = services.person_create(
        actor=grid_worker,
        household_id=people.household.id,
        relation="child",
        name="张小雨",
        id_number=number,
        phone="13912345678",
    )
    assert (person.birth_date, person.sex) == (dt.date(2001, 2, 3), "F")
    assert person.place_path == people.household.place_path
    entry = AuditEntry.objects.get(
        action="create", object_id=str(person.id), object_type="people.person"
    )
    assert entry.actor == grid_worker
    assert entry.changes["id_number"] == [None, number[:4] + "*" * 10 + number[-4:]]
    assert entry.object_label == "张*雨"


def test_grid_worker_cannot_add_a_person_to_the_neighbours_household(people, grid_worker):
    with pytest.raises(NotFound):
        services.person_create(
            actor=grid_worker,
            household_id=people.other_household.id,
            relation="child",
            name="李小",
            id_number=make_id_number(),
        )
    assert not Person.objects.filter(name="李小").exists()


def test_household_needs_a_building_in_the_jurisdiction(town, grid_worker):
    with pytest.raises(NotFound):
        services.household_create(
            actor=grid_worker, number="H9", address="x", building_id=town.other_building.id
        )
    with pytest.raises(NotFound):
        services.household_create(
            actor=grid_worker, number="H9", address="x", building_id=town.grid.id
        )  # not a building
    assert not Household.objects.filter(number="H9").exists()


def test_second_householder_is_refused(people, grid_worker):
    with pytest.raises(ValidationFailed, match="householder"):
        services.person_create(
            actor=grid_worker,
            household_id=people.household.id,
            relation="head",
            name="张二",
            id_number=make_id_number(),
        )


def test_disability_needs_category_and_grade(people, grid_worker):
    with pytest.raises(ValidationFailed) as exc:
        services.person_update(
            actor=grid_worker, person_id=people.child.id, disability_category="physical"
        )
    assert "disability_grade" in exc.value.details
    person = services.person_update(
        actor=grid_worker,
        person_id=people.child.id,
        disability_category="physical",
        disability_grade=2,
    )
    assert "disabled" in person.tags


def test_left_behind_child_must_be_under_16(people, grid_worker):
    with pytest.raises(ValidationFailed) as exc:
        services.person_update(actor=grid_worker, person_id=people.child.id, left_behind_child=True)
    assert "left_behind_child" in exc.value.details


def test_failed_update_changes_nothing(people, grid_worker):
    before = Person.objects.get(pk=people.head.pk).phone
    audit_count = AuditEntry.objects.count()
    with pytest.raises(ValidationFailed):
        services.person_update(actor=grid_worker, person_id=people.head.id, phone="12", name="改了")
    head = Person.objects.get(pk=people.head.pk)
    assert (head.phone, head.name) == (before, "张大山")
    assert AuditEntry.objects.count() == audit_count


def test_unknown_fields_are_refused(people, grid_worker):
    with pytest.raises(ValidationFailed, match="place_path"):
        services.person_update(actor=grid_worker, person_id=people.head.id, place_path="/")


def test_moving_a_household_moves_its_members_and_records(people, admin, town):
    services.financial_record_create(
        actor=admin,
        person_id=people.head.id,
        category="income",
        kind="transfer",
        amount=Decimal("1200.00"),
        valid_from=dt.date(2026, 1, 1),
    )
    services.household_update(
        actor=admin, household_id=people.household.id, building_id=town.other_building.id
    )
    assert set(
        Person.objects.filter(household=people.household).values_list("place_path", flat=True)
    ) == {town.other_building.path}
    assert FinancialRecord.objects.get(person=people.head).place_path == town.other_building.path
    entry = AuditEntry.objects.filter(object_type="people.household", action="update").get()
    assert entry.changes["building"] == [town.building.id, town.other_building.id]


def test_auditor_reads_but_cannot_change(people, auditor):
    with pytest.raises(NotFound):
        services.person_update(actor=auditor, person_id=people.head.id, phone="13900001111")
    with pytest.raises(PermissionDenied):
        services.person_reveal(actor=auditor, person_id=people.head.id)


def test_household_with_active_members_cannot_be_archived(people, grid_worker):
    with pytest.raises(ValidationFailed):
        services.household_archive(actor=grid_worker, household_id=people.household.id)
    for person in (people.head, people.child):
        services.person_set_status(actor=grid_worker, person_id=person.id, status="moved_out")
    household = services.household_archive(actor=grid_worker, household_id=people.household.id)
    assert household.status == "archived"


def test_void_needs_a_reason_and_keeps_the_row(people, grid_worker):
    record = services.financial_record_create(
        actor=grid_worker,
        person_id=people.child.id,
        category="expenditure",
        kind="medical",
        amount=Decimal("5321.07"),
        valid_from=dt.date(2026, 3, 1),
        valid_to=dt.date(2026, 3, 31),
    )
    with pytest.raises(ValidationFailed):
        services.financial_record_void(actor=grid_worker, record_id=record.id, reason=" ")
    services.financial_record_void(actor=grid_worker, record_id=record.id, reason="重复录入")
    record.refresh_from_db()
    assert record.voided_at and record.amount == Decimal("5321.07")


def test_negative_amount_and_reversed_period_are_refused(people, grid_worker):
    with pytest.raises(ValidationFailed, match="negative"):
        services.financial_record_create(
            actor=grid_worker,
            person_id=people.child.id,
            category="income",
            kind="wage",
            amount=Decimal("-1"),
            valid_from=dt.date(2026, 1, 1),
        )
    with pytest.raises(ValidationFailed, match="end date"):
        services.financial_record_create(
            actor=grid_worker,
            person_id=people.child.id,
            category="income",
            kind="wage",
            amount=Decimal("1"),
            valid_from=dt.date(2026, 2, 1),
            valid_to=dt.date(2026, 1, 1),
        )


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_of_one_id_number_store_exactly_one(town, admin):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL")
    household = services.household_create(
        actor=admin, number="H-race", address="x", building_id=town.building.id
    )
    number = make_id_number(birth=dt.date(1990, 5, 5))
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def attempt(i: int) -> None:
        from django.db import connection as thread_connection

        barrier.wait()
        try:
            services.person_create(
                actor=admin,
                household_id=household.id,
                relation="other",
                name=f"并发{i}",
                id_number=number,
            )
            outcomes.append("created")
        except ValidationFailed as exc:
            outcomes.append("refused:" + ",".join(exc.details))
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("created") == 1
    assert sorted(outcomes)[1:] == ["refused:id_number"] * 3
    assert Person.objects.filter(id_number=number).count() == 1


def test_street_path_follows_the_household_and_narrows_street_searches(
    town, admin, street_officer, people
):
    from linli.people.models import street_path_of
    from linli.people.selectors import PersonFilter, person_list

    assert people.head.street_path == town.street.path
    assert street_path_of(town.district.path) == ""
    assert street_path_of(town.building.path) == town.street.path
    services.household_update(
        actor=admin, household_id=people.household.id, building_id=town.other_building.id
    )
    moved = Person.objects.get(pk=people.head.pk)
    assert moved.street_path == town.other_street.path
    found = person_list(admin, PersonFilter(place_id=town.other_street.id, name="张"))
    assert set(found) == {moved, Person.objects.get(pk=people.child.pk)}
    assert not person_list(street_officer, PersonFilter(name="张")).exists()


def test_the_street_path_migration_fills_existing_rows(town, people):
    from importlib import import_module

    from django.apps import apps

    Person.objects.update(street_path="")
    migration = import_module("linli.people.migrations.0003_person_street_path")
    migration.fill_street_paths(apps, None)
    assert set(Person.objects.values_list("street_path", flat=True)) == {
        town.street.path,
        town.other_street.path,
    }
