"""One demo login per role (演示账号), bound to places of whatever city is in the database.

The accounts hang off one anchor: the first urban grid (by code) that has households, and its
community, street, district and city. Running it again changes nothing that is already right;
it resets what is not (role, bindings, the demo password), so it also repairs a demo.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _

from linli.core.audit import record
from linli.core.errors import Conflict
from linli.core.masking import mask_name
from linli.core.models import AuditAction, Department, User
from linli.core.roles import Role
from linli.people.models import Household, Person, Relation
from linli.places.models import Place, PlaceLevel

DEMO_PASSWORD = "linli-demo"

# The username of each role's account is the role's value ("grid_worker").
_TITLES = {
    Role.RESIDENT: "居民",
    Role.GRID_WORKER: "网格员",
    Role.COMMUNITY_WORKER: "社区工作者",
    Role.STREET_OFFICER: "街道干部",
    Role.DEPARTMENT_HANDLER: "部门办理人",
    Role.CIVIL_AFFAIRS: "民政专干",
    Role.COMMAND_OPERATOR: "指挥中心值班员",
    Role.AUDITOR: "审计员",
    Role.ADMIN: "系统管理员",
}


@dataclass
class DemoAccount:
    role: str
    username: str
    password: str
    bound_to: str
    created: bool
    changed: bool


@dataclass
class _Anchor:
    city: Place
    district: Place
    street: Place
    community: Place
    grid: Place


def _anchor() -> _Anchor:
    grids = Place.objects.filter(level=PlaceLevel.GRID).order_by("is_rural", "path")
    grid = None
    for candidate in grids.only("id", "path", "code")[:200]:
        # A grid with households, so the resident and the grid worker have someone to see.
        if Household.objects.filter(place_path__under=candidate.path).exists():
            grid = candidate
            break
    grid = grid or grids.first()
    if grid is None:
        raise Conflict(_("There is no grid yet: run `linli seed` first."))
    by_level = {p.level: p for p in [*grid.ancestors(), grid]}
    missing = [
        level
        for level in (PlaceLevel.CITY, PlaceLevel.DISTRICT, PlaceLevel.STREET, PlaceLevel.COMMUNITY)
        if level not in by_level
    ]
    if missing:
        raise Conflict(_("The grid %(code)s is not under a full place tree.") % {"code": grid.code})
    return _Anchor(
        city=by_level[PlaceLevel.CITY],
        district=by_level[PlaceLevel.DISTRICT],
        street=by_level[PlaceLevel.STREET],
        community=by_level[PlaceLevel.COMMUNITY],
        grid=grid,
    )


def _department(district: Place) -> Department:
    """The city-management bureau of the case taxonomy, which handles most reports; a
    district bureau of its own when the taxonomy is not loaded."""
    bureau = Department.objects.filter(code="CGJ").first()
    if bureau is not None:
        return bureau
    department, _created = Department.objects.get_or_create(
        code=f"{district.code}-zhzf",
        defaults={"name": f"{district.name}综合行政执法局", "district": district},
    )
    return department


def _resident_person(user: User, grid: Place) -> Person | None:
    linked = Person.objects.filter(account=user).first()
    if linked is not None:
        return linked
    return (
        Person.objects.filter(
            place_path__under=grid.path, relation=Relation.HEAD, account__isnull=True
        )
        .order_by("household__number")
        .first()
    )


def _place_label(place: Place) -> str:
    return f"{place.name} ({place.code})"


@transaction.atomic
def demo_accounts_ensure(*, actor: User | None = None) -> list[DemoAccount]:
    """Create or repair the nine demo accounts; audit each one created or changed."""
    anchor = _anchor()
    department = _department(anchor.district)
    bindings: dict[str, list[Place]] = {
        Role.RESIDENT: [],
        Role.GRID_WORKER: [anchor.grid],
        Role.COMMUNITY_WORKER: [anchor.community],
        Role.STREET_OFFICER: [anchor.street],
        Role.DEPARTMENT_HANDLER: [anchor.district],
        Role.CIVIL_AFFAIRS: [anchor.district],
        Role.COMMAND_OPERATOR: [anchor.district],
        Role.AUDITOR: [anchor.city],
        Role.ADMIN: [anchor.city],
    }
    out: list[DemoAccount] = []
    for role in Role:
        places = bindings[role]
        user, created = User.objects.get_or_create(username=role.value)
        before = _state(user)
        user.role = role
        user.is_active = True
        user.is_staff = user.is_superuser = role == Role.ADMIN  # the Django admin site
        changes: dict[str, list] = {}
        if created or not user.check_password(DEMO_PASSWORD):
            user.set_password(DEMO_PASSWORD)
            changes["password"] = [None, "reset"]
        bound_to = ", ".join(_place_label(p) for p in places)
        person = None
        if role == Role.RESIDENT:
            person = _resident_person(user, anchor.grid)
            user.display_name = person.name if person else _TITLES[role]
        else:
            user.display_name = f"{places[0].name}{_TITLES[role]}"
        user.save()
        user.places.set(places)
        user.departments.set([department] if role == Role.DEPARTMENT_HANDLER else [])
        if role == Role.DEPARTMENT_HANDLER:
            bound_to = f"{department.name} ({department.code}), {bound_to}"
        if person is not None:
            if person.account_id != user.id:
                Person.objects.filter(pk=person.pk).update(account=user)
            bound_to = f"{mask_name(person.name)}, household {person.household.number}"
        after = _state(user)
        changes.update({k: [before[k], after[k]] for k in after if before[k] != after[k]})
        if changes:
            record(
                actor=actor,
                action=AuditAction.CREATE if created else AuditAction.UPDATE,
                instance=user,
                changes=changes,
                place_path=places[0].path if places else "",
                label=user.username,
            )
        out.append(
            DemoAccount(role, user.username, DEMO_PASSWORD, bound_to, created, bool(changes))
        )
    return out


def _state(user: User) -> dict:
    """What the demo sets on an account, in audit-friendly form."""
    if user.pk is None:
        return dict.fromkeys(
            ("role", "active", "superuser", "display_name", "places", "departments", "person")
        )
    person = Person.objects.filter(account=user).only("id").first()
    return {
        "role": user.role,
        "active": user.is_active,
        "superuser": user.is_superuser,
        "display_name": user.display_name,
        "places": sorted(user.places.values_list("code", flat=True)),
        "departments": sorted(user.departments.values_list("code", flat=True)),
        "person": person.pk if person else None,
    }
