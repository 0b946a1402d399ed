import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from linli.core.models import AuditEntry, User
from linli.core.roles import Role
from linli.people.models import Person
from linli.places.models import Place, PlaceLevel


@pytest.fixture
def seeded(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("seed", households=300, seed=2, stdout=io.StringIO(), stderr=io.StringIO())


def _accounts() -> str:
    out = io.StringIO()
    call_command("demo_accounts", stdout=out)
    return out.getvalue()


def test_one_account_per_role_and_running_again_changes_nothing(seeded):
    table = _accounts().splitlines()
    assert table[0].split() == ["role", "username", "password", "bound", "to"]
    assert [line.split()[0] for line in table[1:]] == list(Role.values)
    assert all(line.split()[2] == "linli-demo" for line in table[1:])
    audited = AuditEntry.objects.filter(object_type="core.user").count()
    assert audited == len(Role)
    assert _accounts().splitlines() == table
    assert User.objects.count() == len(Role)
    assert AuditEntry.objects.filter(object_type="core.user").count() == audited


def test_a_broken_demo_account_is_repaired(seeded):
    _accounts()
    worker = User.objects.get(username="grid_worker")
    worker.set_password("forgotten")
    worker.role = Role.ADMIN
    worker.save()
    worker.places.clear()
    _accounts()
    worker.refresh_from_db()
    assert worker.role == Role.GRID_WORKER and worker.check_password("linli-demo")
    assert worker.places.count() == 1
    entry = AuditEntry.objects.filter(object_id=str(worker.pk), action="update").get()
    assert set(entry.changes) == {"password", "role", "places"}


def test_each_account_logs_in_and_sees_exactly_its_jurisdiction(seeded):
    _accounts()
    users = {u.role: u for u in User.objects.all()}
    bound = {role: list(u.places.all()) for role, u in users.items()}
    levels = {role: [p.level for p in places] for role, places in bound.items()}
    assert levels == {
        Role.RESIDENT: [],
        Role.GRID_WORKER: [PlaceLevel.GRID],
        Role.COMMUNITY_WORKER: [PlaceLevel.COMMUNITY],
        Role.STREET_OFFICER: [PlaceLevel.STREET],
        Role.DEPARTMENT_HANDLER: [PlaceLevel.DISTRICT],
        Role.CIVIL_AFFAIRS: [PlaceLevel.DISTRICT],
        Role.COMMAND_OPERATOR: [PlaceLevel.DISTRICT],
        Role.AUDITOR: [PlaceLevel.CITY],
        Role.ADMIN: [PlaceLevel.CITY],
    }
    grid = bound[Role.GRID_WORKER][0]
    # One chain: the grid worker's grid sits in the community worker's community, and so on.
    for wider in (Role.COMMUNITY_WORKER, Role.STREET_OFFICER, Role.CIVIL_AFFAIRS, Role.ADMIN):
        assert grid.path.startswith(bound[wider][0].path)
    assert not grid.is_rural
    assert list(users[Role.DEPARTMENT_HANDLER].departments.values_list("district", flat=True)) == [
        bound[Role.DEPARTMENT_HANDLER][0].id
    ]

    seen_by: dict[str, int] = {}
    for role, user in users.items():
        # Through the login form: the throttling backend needs the request to count failures.
        response = Client().post(
            reverse("login"), {"username": user.username, "password": "linli-demo"}
        )
        assert response.status_code == 302, role
        seen = Person.objects.restrict(user)
        seen_by[role] = seen.count()
        if role == Role.RESIDENT:
            person = Person.objects.get(account=user)
            assert person.relation == "head" and person.place_path.startswith(grid.path)
            assert set(seen) == set(Person.objects.filter(household=person.household_id))
        elif role == Role.DEPARTMENT_HANDLER:
            assert seen_by[role] == 0  # departments see cases dispatched to them, not people
        elif role == Role.ADMIN:
            assert seen_by[role] == Person.objects.count()
        else:
            under = Person.objects.filter(place_path__startswith=bound[role][0].path)
            assert seen_by[role] == under.count()
    assert 0 < seen_by[Role.GRID_WORKER] < seen_by[Role.COMMUNITY_WORKER]
    assert seen_by[Role.COMMUNITY_WORKER] < seen_by[Role.STREET_OFFICER]
    assert seen_by[Role.STREET_OFFICER] < seen_by[Role.CIVIL_AFFAIRS] < seen_by[Role.AUDITOR]
    assert users[Role.ADMIN].is_superuser and not users[Role.AUDITOR].is_staff


def test_without_a_city_there_are_no_accounts(db):
    with pytest.raises(CommandError, match="linli seed"):
        _accounts()
    assert not User.objects.exists()
    assert not Place.objects.exists()
