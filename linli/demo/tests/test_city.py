"""The generated city, checked once on a 2,000-household seed (rolled back after the module)."""

import collections
import datetime as dt
import io
import itertools
import re
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import models, transaction
from django.db.models import Max, Min
from shapely.geometry import Point, shape
from shapely.ops import unary_union
from stdnum.cn import ric

from linli.assistance.policy import demo_parameters
from linli.core.models import AuditEntry
from linli.demo.generator import REFERENCE_DATE
from linli.demo.management.commands.seed import BBOX_LABEL
from linli.people.idnumbers import parse_id_number, phone_problem
from linli.people.models import (
    FinanceKind,
    FinancialRecord,
    Household,
    LegalSupporter,
    Person,
    Relation,
    SelfCareAssessment,
    SeriousIllness,
)
from linli.places.models import Place, PlaceLevel
from linli.places.selectors import grid_containing

HOUSEHOLDS = 2000


@pytest.fixture(scope="module")
def city(django_db_setup, django_db_blocker):
    """Seeded once for the module inside a transaction that is rolled back at its end."""
    with django_db_blocker.unblock(), transaction.atomic():
        out = io.StringIO()
        call_command("seed", households=HOUSEHOLDS, seed=3, stdout=out, stderr=io.StringIO())
        yield out.getvalue()
        transaction.set_rollback(True)


def _age(birth: dt.date) -> int:
    today = REFERENCE_DATE
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def test_last_line_is_the_bounding_box_of_every_place(city, db):
    label, _, last = city.strip().splitlines()[-1].rpartition(" ")
    assert label == BBOX_LABEL
    assert re.fullmatch(r"-?\d+\.\d{6},-?\d+\.\d{6},-?\d+\.\d{6},-?\d+\.\d{6}", last)
    min_lat, min_lng, max_lat, max_lng = map(float, last.split(","))
    box = Place.objects.aggregate(
        a=Min("min_lat"), b=Min("min_lng"), c=Max("max_lat"), d=Max("max_lng")
    )
    points = Place.objects.aggregate(a=Min("lat"), b=Min("lng"), c=Max("lat"), d=Max("lng"))
    assert min_lat <= min(box["a"], points["a"]) and max_lat >= max(box["c"], points["c"])
    assert min_lng <= min(box["b"], points["b"]) and max_lng >= max(box["d"], points["d"])
    assert max_lat - min_lat < 0.2 and max_lng - min_lng < 0.3  # a city, not a province


def test_every_place_passes_the_model_rules_and_the_tree_is_complete(city, db):
    places = list(Place.objects.select_related("parent"))
    for place in places:
        path = place.path
        place.full_clean(validate_unique=False)  # codes, nesting, GeoJSON, bbox
        assert place.compute_path() == path
    by_level = collections.Counter(p.level for p in places)
    assert by_level[PlaceLevel.CITY] == 1 and by_level[PlaceLevel.DISTRICT] >= 2
    assert all(by_level[level] for level in PlaceLevel.values)
    rural = {(p.level, p.is_rural) for p in places}
    for level in (PlaceLevel.STREET, PlaceLevel.COMMUNITY, PlaceLevel.GRID, PlaceLevel.BUILDING):
        assert {(level, True), (level, False)} <= rural  # urban and rural parts
    assert next(p for p in places if p.level == PlaceLevel.CITY).code == "370500"
    for district in (p for p in places if p.level == PlaceLevel.DISTRICT):
        # A real GB/T 2260 division (python-stdnum's table), so ID numbers name a real place.
        assert ric.get_birth_place(f"{district.code}202001010010")["county"] == district.name
    # Every building holds households; every grid has a boundary.
    assert not Place.objects.filter(level=PlaceLevel.BUILDING, households__isnull=True).exists()
    assert not Place.objects.filter(level=PlaceLevel.GRID, boundary__isnull=True).exists()


def test_children_tile_their_parent_without_gaps_or_overlaps(city, db):
    """网格全覆盖: grids cover each community exactly, and so on up to the city."""
    places = list(Place.objects.filter(level__lte=PlaceLevel.GRID))
    children = collections.defaultdict(list)
    for place in places:
        children[place.parent_id].append(shape(place.boundary))
    for parent in places:
        if parent.level == PlaceLevel.GRID:
            continue
        area = shape(parent.boundary)
        cells = children[parent.id]
        assert cells, parent.code
        union = unary_union(cells)
        assert union.symmetric_difference(area).area < 1e-9 * area.area, parent.code
        for a, b in itertools.combinations(cells, 2):
            assert a.intersection(b).area < 1e-12 * area.area, parent.code


def test_buildings_stand_in_their_grid(city, db):
    buildings = Place.objects.filter(level=PlaceLevel.BUILDING).order_by("id")[::7]
    for building in buildings:
        grid_path = "/".join(building.path.split("/")[:5]) + "/"
        grid = Place.objects.get(path=grid_path)
        assert shape(grid.boundary).contains(Point(building.lng, building.lat))
        assert grid_containing(building.lat, building.lng) == grid


def test_id_numbers_are_valid_unique_and_carry_birth_date_and_sex(city, db):
    rows = list(Person.objects.values_list("id_number", "id_reversed", "birth_date", "sex"))
    assert len(rows) > 2 * HOUSEHOLDS
    assert len({r[0] for r in rows}) == len(rows)
    for number, reversed_, birth, sex in rows:
        assert parse_id_number(number) == (number, birth, sex)
        assert reversed_ == number[::-1]


def test_households_have_one_householder_and_plausible_members(city, db):
    heads = collections.Counter(
        Person.objects.filter(relation=Relation.HEAD).values_list("household_id", flat=True)
    )
    assert len(heads) == HOUSEHOLDS == Household.objects.count()
    assert set(heads.values()) == {1}
    sizes = collections.Counter(Person.objects.values_list("household_id", flat=True))
    assert 2.3 < sum(sizes.values()) / HOUSEHOLDS < 3.2
    assert max(sizes.values()) <= 6
    registrations = collections.Counter(Household.objects.values_list("registration", flat=True))
    assert 0.1 < registrations["rural"] / HOUSEHOLDS < 0.6
    for phone in Person.objects.exclude(phone="").values_list("phone", flat=True):
        assert phone_problem(phone) is None
    for model in (Household, Person, FinancialRecord):
        for row in model.objects.order_by("id")[::100]:
            row.full_clean(validate_unique=False)


def test_distributions_are_realistic(city, db):
    persons = list(
        Person.objects.values_list(
            "birth_date", "disability_category", "disability_grade", "party_member", "veteran",
            "left_behind_child", "chronic_illness", "living_alone", "household__registration",
        )
    )  # fmt: skip
    n = len(persons)

    def share(test) -> float:
        return sum(1 for p in persons if test(p)) / n

    assert 0.17 <= share(lambda p: _age(p[0]) >= 60) <= 0.23
    assert 0.08 <= share(lambda p: _age(p[0]) < 12) <= 0.18
    assert 0.045 <= share(lambda p: p[1] != "") <= 0.075
    assert all((p[1] == "") == (p[2] is None) and p[2] in (None, 1, 2, 3, 4) for p in persons)
    assert len({p[1] for p in persons}) == 8  # every category, and none
    assert 0.055 <= share(lambda p: p[3]) <= 0.085
    assert 0.005 <= share(lambda p: p[4]) <= 0.03
    assert 0.05 <= share(lambda p: p[6]) <= 0.25
    assert share(lambda p: p[7] and _age(p[0]) >= 60) >= 0.01  # 独居老人
    left_behind = [p for p in persons if p[5]]
    assert left_behind and all(_age(p[0]) < 16 and p[8] == "rural" for p in left_behind)


def _counted_per_capita() -> dict[int, tuple[Decimal, str]]:
    """Counted income per member under the demo policy (no new-employment wages yet): counted
    kinds, less deducted kinds and each earner's employment cost; and the registration."""
    policy = demo_parameters(rural=False)
    counted = collections.defaultdict(Decimal)
    wages = collections.defaultdict(Decimal)
    for household_id, person_id, kind, amount in FinancialRecord.objects.filter(
        category="income", valid_to__isnull=True
    ).values_list("household_id", "person_id", "kind", "amount"):
        if kind in policy.counted_income_kinds:
            counted[household_id] += amount
            if kind == "wage":
                wages[(household_id, person_id)] += amount
        elif kind in policy.deducted_income_kinds:
            counted[household_id] -= amount
    for (household_id, _person), wage in wages.items():
        counted[household_id] -= min(
            wage * policy.employment_cost_share, policy.employment_cost_cap
        )
    members = collections.Counter(Person.objects.values_list("household_id", flat=True))
    registration = dict(Household.objects.values_list("id", "registration"))
    return {h: (max(counted[h], Decimal(0)) / members[h], registration[h]) for h in members}


def test_poor_and_marginal_households_are_where_the_roles_put_them(city, db):
    """Per 400 households: 10 for 低保 and 4 persons alone for 特困 below the standard, 6 in
    the marginal band, none of the others within 1.5 × the standard."""
    standard = {r: demo_parameters(rural=r == "rural").standard for r in ("urban", "rural")}
    per_capita = _counted_per_capita()
    below = [h for h, (pc, r) in per_capita.items() if pc < standard[r]]
    band = [
        h for h, (pc, r) in per_capita.items() if standard[r] <= pc <= Decimal("1.5") * standard[r]
    ]
    assert len(below) == HOUSEHOLDS * 14 // 400
    assert len(band) == HOUSEHOLDS * 6 // 400
    kinds = set(FinancialRecord.objects.values_list("kind", flat=True).distinct())
    assert kinds == set(FinanceKind.values)  # every kind of income, asset and expenditure
    assert FinancialRecord.objects.filter(valid_to__isnull=False, category="income").exists()


def test_facts_assistance_rests_on(city, db):
    adults = Person.objects.filter(birth_date__lte=dt.date(2010, 1, 1))
    assert not adults.filter(work_capacity="").exists()
    assert (
        not Person.objects.filter(birth_date__gt=dt.date(2010, 1, 2))
        .exclude(work_capacity="")
        .exists()
    )
    levels = {a.level for a in SelfCareAssessment.objects.all()}
    assert levels == {"independent", "partial", "dependent"}
    assert SeriousIllness.objects.exists()
    supporters = LegalSupporter.objects.all()
    assert (
        supporters.filter(supporter__isnull=False)
        .exclude(supporter__household=models.F("person__household"))
        .exists()
    )  # some live in another household
    assert supporters.filter(able_to_support=False).exists()
    for model in (SeriousIllness, SelfCareAssessment, LegalSupporter):
        for row in model.objects.order_by("id")[::10]:
            row.full_clean(validate_unique=False)
            assert row.place_path == row.person.place_path


def test_one_audit_entry_summarises_the_seed(city, db):
    entry = AuditEntry.objects.get()
    assert entry.object_type == "places.place" and entry.action == "import"
    assert entry.source == "cli:seed" and entry.actor is None
    assert entry.changes["households"] == HOUSEHOLDS
    assert entry.changes["persons"] == Person.objects.count()
    assert entry.changes["seed"] == 3
