"""The synthetic demo city (演示城市) behind `linli seed`.

`city_generate(households=N, seed=S)` builds one city: districts and counties, streets and
townships, communities and villages, grids that tile every community, compounds and buildings,
then N households with their members, dated income, asset and expenditure records, and the
facts assistance decisions rest on (circumstances.py: capacity to work, serious illnesses,
self-care assessments, legal supporters), drawn so that about 2.5 % of persons qualify for the
minimum living guarantee under the demo policy, some for extreme-poverty support, some as
marginal households.

The same N and S always give the same codes, names and ID numbers: every draw comes from
`random.Random` instances seeded from S (one for the tree, one for geometry, one for people, so
a different GEOS version cannot shift the names), and ages are counted from a fixed reference
date, never from the clock.

Rows go in by COPY (PostgreSQL) or `executemany` (SQLite) in chunks, with primary keys assigned
here, into tables whose plain indexes and foreign keys are rebuilt once after the load; memory
stays bounded by the chunk size and the place tree (about N/30 places).
"""

from __future__ import annotations

import datetime as dt
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone
from django.utils.translation import gettext as _
from shapely.geometry import Polygon
from stdnum.cn import ric

from linli.core.audit import record
from linli.core.errors import Conflict, ValidationFailed
from linli.core.models import AuditAction, User
from linli.core.scoping import PATH_SEPARATOR
from linli.people.models import (
    FinancialRecord,
    Household,
    LegalSupporter,
    Person,
    SelfCareAssessment,
    SeriousIllness,
    street_path_of,
)
from linli.places.models import Place, PlaceLevel

from . import names
from .circumstances import (
    BLOCK,
    EXTREME_POVERTY,
    ILLNESS_COLUMNS,
    ORDINARY,
    SELF_CARE_COLUMNS,
    SUPPORTER_COLUMNS,
    Circumstances,
    Member,
    work_capacity,
)
from .geometry import city_outline, geojson, points_inside, split
from .writers import RowWriter, check_columns, indexes_and_foreign_keys_deferred, next_id

REFERENCE_DATE = dt.date(2026, 1, 1)
CITY_CENTRE = (37.43, 118.62)  # lat, lng
HOUSEHOLDS_PER_GRID = 300
CHUNK_PERSONS = 20000

Progress = Callable[[str], None]

PLACE_COLUMNS = (
    "id", "code", "name", "level", "parent_id", "path", "is_rural", "boundary",
    "lat", "lng", "min_lat", "min_lng", "max_lat", "max_lng",
)  # fmt: skip
HOUSEHOLD_COLUMNS = (
    "id", "number", "address", "building_id", "registration", "status", "place_path",
    "created_at", "updated_at",
)  # fmt: skip
PERSON_COLUMNS = (
    "id", "household_id", "relation", "name", "id_number", "id_reversed", "birth_date", "sex",
    "phone", "living_alone", "disability_category", "disability_grade", "party_member",
    "veteran", "left_behind_child", "chronic_illness", "work_capacity", "status", "died_on",
    "account_id", "place_path", "street_path", "created_at", "updated_at",
)  # fmt: skip
FINANCE_COLUMNS = (
    "id", "person_id", "household_id", "category", "kind", "amount", "valid_from", "valid_to",
    "note", "place_path", "created_at", "voided_at", "void_reason", "new_employment",
)  # fmt: skip


@dataclass
class CitySummary:
    city_id: int
    places: dict[str, int]
    households: int
    persons: int
    financial_records: int
    # Serious illnesses, self-care assessments and legal supporters.
    person_facts: int
    seconds: float
    bbox: tuple[float, float, float, float]  # min_lat, min_lng, max_lat, max_lng

    @property
    def rows(self) -> int:
        return (
            sum(self.places.values())
            + self.households
            + self.persons
            + self.financial_records
            + self.person_facts
        )

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def bbox_line(bbox: tuple[float, float, float, float]) -> str:
    """`min_lat,min_lng,max_lat,max_lng`, rounded outwards so it still contains every point."""
    min_lat, min_lng, max_lat, max_lng = bbox
    down = [math.floor(v * 1e6) / 1e6 for v in (min_lat, min_lng)]
    up = [math.ceil(v * 1e6) / 1e6 for v in (max_lat, max_lng)]
    return ",".join(f"{v:.6f}" for v in (down[0], down[1], up[0], up[1]))


def existing_bbox() -> tuple[float, float, float, float] | None:
    """The bounding box of the places already stored (boundaries, else points)."""
    boxes = Place.objects.aggregate(
        a=Min("min_lat"), b=Min("min_lng"), c=Max("max_lat"), d=Max("max_lng")
    )
    points = Place.objects.aggregate(a=Min("lat"), b=Min("lng"), c=Max("lat"), d=Max("lng"))
    corners = [[v for v in (boxes[k], points[k]) if v is not None] for k in ("a", "b", "c", "d")]
    if not all(corners):
        return None
    return (min(corners[0]), min(corners[1]), max(corners[2]), max(corners[3]))


# --- the place tree ---------------------------------------------------------------------------


@dataclass
class _Node:
    id: int
    code: str
    name: str
    level: int
    parent: _Node | None
    is_rural: bool
    polygon: Polygon | None = None
    point: tuple[float, float] | None = None  # lng, lat
    path: str = ""

    def __post_init__(self) -> None:
        self.path = (self.parent.path if self.parent else "") + self.code + PATH_SEPARATOR

    def row(self, json_value: Callable) -> tuple:
        bounds = self.polygon.bounds if self.polygon is not None else (None,) * 4
        return (
            self.id,
            self.code,
            self.name,
            self.level,
            self.parent.id if self.parent else None,
            self.path,
            self.is_rural,
            json_value(geojson(self.polygon) if self.polygon is not None else None),
            self.point[1] if self.point else None,
            self.point[0] if self.point else None,
            bounds[1],
            bounds[0],
            bounds[3],
            bounds[2],
        )


@dataclass
class _Building:
    """Where households go, with what their addresses need."""

    node: _Node
    district_code: str
    households: int
    address_prefix: str  # 银河路36号 5栋 / 王家村 3组
    rural: bool
    units: int = 2


@dataclass
class _Tree:
    nodes: list[_Node] = field(default_factory=list)
    buildings: list[_Building] = field(default_factory=list)
    city: _Node | None = None


def _allocate(total: int, weights: list[float], minimum: int = 0) -> list[int]:
    """Split `total` in proportion to `weights` (largest remainder), each part ≥ minimum."""
    base = [minimum] * len(weights)
    rest = total - minimum * len(weights)
    if rest <= 0:
        return base
    scale = rest / sum(weights)
    shares = [w * scale for w in weights]
    parts = [int(s) for s in shares]
    order = sorted(range(len(weights)), key=lambda i: (parts[i] - shares[i], i))
    for i in order[: rest - sum(parts)]:
        parts[i] += 1
    return [b + p for b, p in zip(base, parts, strict=True)]


class _Names:
    """Unique two-character roots, drawn in a seeded order."""

    def __init__(self, rng: random.Random) -> None:
        self.roots = names.name_roots(rng)
        self.used = 0

    def take(self) -> str:
        root = self.roots[self.used % len(self.roots)]
        lap = self.used // len(self.roots)
        self.used += 1
        return root if lap == 0 else f"{root}{'二三四五六七八九'[min(lap - 1, 7)]}"


def _plan_tree(households: int, seed: int, first_id: int) -> _Tree:
    rng = random.Random(f"linli-demo-tree-{seed}")
    geo = random.Random(f"linli-demo-geometry-{seed}")
    tree = _Tree()
    ids = iter(range(first_id, first_id + 10**9))

    def node(code, name, level, parent, rural, polygon=None, point=None) -> _Node:
        n = _Node(next(ids), code, name, level, parent, rural, polygon, point)
        if polygon is not None:
            rep = polygon.representative_point()
            n.point = (rep.x, rep.y)
        tree.nodes.append(n)
        return n

    half_lat = 0.03 + 0.32 * math.sqrt(households / 1_000_000)
    lat0, lng0 = CITY_CENTRE
    outline = city_outline(
        geo, lat=lat0, lng=lng0, half_lat=half_lat, half_lng=half_lat / math.cos(math.radians(lat0))
    )
    city = node(names.CITY_CODE, names.CITY_NAME, PlaceLevel.CITY, None, False, outline)
    tree.city = city

    districts = names.DISTRICTS[: min(len(names.DISTRICTS), 2 + households // 200_000)]
    community_total = max(4 * len(districts), round(households / (HOUSEHOLDS_PER_GRID * 9)))
    per_district = _allocate(
        community_total,
        [(1.0 if county else 1.3) * rng.uniform(0.85, 1.15) for *_code, county in districts],
        minimum=4,
    )
    roots = _Names(rng)
    used_villages: set[str] = set()
    grids: list[tuple[_Node, float]] = []  # grid, weight for households

    for (district_code, district_name, county), district_polygon, communities in zip(
        districts, split(outline, len(districts), geo), per_district, strict=True
    ):
        district = node(
            district_code, district_name, PlaceLevel.DISTRICT, city, False, district_polygon
        )

        street_count = max(2, round(communities / 12))
        per_street = _allocate(
            communities, [rng.uniform(0.8, 1.2) for _ in range(street_count)], minimum=2
        )
        # Urban districts keep a town or two at the edge; counties have one street (the seat).
        towns = street_count - 1 if county else street_count // 4
        counters = {"street": 0, "town": 99, "township": 199}
        for s, (street_polygon, street_communities) in enumerate(
            zip(split(district_polygon, street_count, geo), per_street, strict=True)
        ):
            rural = s >= street_count - towns
            if not rural:
                kind, suffix = "street", "街道"
            elif rng.random() < 0.7:
                kind, suffix = "town", "镇"
            else:
                kind, suffix = "township", "乡"
            counters[kind] += 1
            street = node(
                f"{district.code}{counters[kind]:03d}000",
                roots.take() + suffix,
                PlaceLevel.STREET,
                district,
                rural,
                street_polygon,
            )
            for c, community_polygon in enumerate(split(street_polygon, street_communities, geo)):
                if rural:
                    surname = names.SURNAMES.draw(rng)
                    pattern = names.VILLAGE_PATTERNS[rng.randrange(len(names.VILLAGE_PATTERNS))]
                    village = pattern.format(s=surname)
                    while village in used_villages:
                        village = roots.take() + "村"
                    used_villages.add(village)
                    # Statistical codes: 居委会 001–199, 村委会 200–399.
                    code, name = f"{street.code[:9]}{c + 201:03d}", village
                else:
                    code, name = f"{street.code[:9]}{c + 1:03d}", roots.take() + "社区"
                community = node(code, name, PlaceLevel.COMMUNITY, street, rural, community_polygon)
                grid_count = rng.randint(8, 10)
                for g, grid_polygon in enumerate(split(community_polygon, grid_count, geo)):
                    grid = node(
                        f"{community.code}{g + 1:03d}",
                        f"第{g + 1}网格",
                        PlaceLevel.GRID,
                        community,
                        rural,
                        grid_polygon,
                    )
                    grids.append((grid, rng.uniform(0.75, 1.25) * (0.8 if rural else 1.0)))

    per_grid = _allocate(households, [weight for _grid, weight in grids])
    groups: dict[str, int] = {}  # village groups (村民小组) are numbered across a village
    for grid, grid_households in zip((grid for grid, _weight in grids), per_grid, strict=True):
        community = grid.parent
        district_code = community.parent.parent.code
        building_count = max(1, round(grid_households / rng.uniform(40, 60)))
        per_building = _allocate(grid_households, [1.0] * building_count)
        spots = iter(points_inside(grid.polygon, building_count, geo))
        if grid.is_rural:
            for b, count in enumerate(per_building):
                group = groups.get(community.code, 0) + 1
                groups[community.code] = group
                building = node(
                    f"{grid.code}{b + 1:03d}",
                    f"{group}组",
                    PlaceLevel.BUILDING,
                    grid,
                    True,
                    point=next(spots),
                )
                tree.buildings.append(
                    _Building(building, district_code, count, f"{community.name}{group}组", True)
                )
            continue
        road = roots.take() + names.ROAD_SUFFIXES[rng.randrange(len(names.ROAD_SUFFIXES))]
        compound_count = min(building_count, rng.randint(1, 3))
        per_compound = _allocate(building_count, [1.0] * compound_count)
        taken = 0
        for k, buildings_here in enumerate(per_compound):
            suffix = names.COMPOUND_SUFFIXES[rng.randrange(len(names.COMPOUND_SUFFIXES))]
            compound = node(
                f"{grid.code}{k + 1:02d}",
                roots.take() + suffix,
                PlaceLevel.COMPOUND,
                grid,
                False,
                point=points_inside(grid.polygon, 1, geo)[0],
            )
            number = 10 * (k + 1) + rng.randint(1, 9)
            for b in range(buildings_here):
                building = node(
                    f"{compound.code}{b + 1:03d}",
                    f"{b + 1}号楼",
                    PlaceLevel.BUILDING,
                    compound,
                    False,
                    point=next(spots),
                )
                tree.buildings.append(
                    _Building(
                        building,
                        district_code,
                        per_building[taken],
                        f"{road}{number}号{b + 1}栋",
                        False,
                        units=rng.randint(2, 4),
                    )
                )
                taken += 1
    return tree


# --- people ----------------------------------------------------------------------------------

# Household shapes with their shares (urban, rural). Tuned so that about 20% of persons are 60+.
_SHAPES = (
    ("alone_elderly", 0.09, 0.10),  # 独居老人
    ("alone_adult", 0.09, 0.05),
    ("elderly_couple", 0.13, 0.15),
    ("couple", 0.10, 0.06),
    ("nuclear", 0.37, 0.30),
    ("three_generations", 0.12, 0.14),
    ("single_parent", 0.06, 0.04),
    ("left_behind", 0.00, 0.12),  # grandparents raising children whose parents work away
    ("elder_with_child", 0.04, 0.04),
)
_URBAN_SHAPES = names.WeightedTable(tuple((s, u) for s, u, _ in _SHAPES))
_RURAL_SHAPES = names.WeightedTable(tuple((s, r) for s, _, r in _SHAPES if r))

_DISABILITY = names.WeightedTable(
    (
        ("physical", 29.1), ("hearing", 24.2), ("multiple", 16.3), ("visual", 14.9),
        ("mental", 7.4), ("intellectual", 6.7), ("speech", 1.5),
    )
)  # fmt: skip
_GRADES = (1, 2, 2, 3, 3, 3, 4, 4, 4, 4)


class _People:
    """Draws members, names and ID numbers; one instance per run, fed households in order."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"linli-demo-people-{seed}")
        self.reference = REFERENCE_DATE.toordinal()
        # Next sequence number per (region, birth date, sex): what keeps ID numbers unique.
        self.sequence: dict[tuple[str, int], int] = {}
        self.given = {key: list(chars) for key, chars in names.GIVEN_NAME_CHARS.items()}

    def sex(self, male_share: float) -> str:
        return "M" if self.rng.random() < male_share else "F"

    def name(self, surname: str, sex: str, birth_year: int) -> str:
        rng = self.rng
        chars = self.given[(sex, names.era_of(birth_year))]
        first = chars[int(rng.random() * len(chars))]
        if rng.random() < 0.2:
            return surname + first
        return surname + first + chars[int(rng.random() * len(chars))]

    def id_number(self, region: str, birth: dt.date, sex: str) -> str:
        male = sex == "M"
        key = birth.toordinal() * 2 + male
        n = self.sequence.get((region, key), 0)
        if n >= 500:
            raise RuntimeError("More than 500 people of one sex born on one day in one district.")
        self.sequence[(region, key)] = n + 1
        # A permutation of 0..499 (37 is prime to 500): numbers look scattered, never repeat.
        order = (n * 37 + key) % 500
        body = f"{region}{birth:%Y%m%d}{order * 2 + male:03d}"
        return body + ric.calc_check_digit(body + "0")

    def birth(self, age: int) -> dt.date:
        days = int((age + self.rng.random()) * 365.2425)
        return dt.date.fromordinal(self.reference - max(days, 1))

    def members(
        self, rural: bool, shape: str | None = None
    ) -> list[tuple[str, str, int, str, bool, bool]]:
        """(relation, sex, age, surname, left_behind_child, living_alone) per member, for a
        household of `shape` (drawn when not given)."""
        rng = self.rng
        shape = shape or (_RURAL_SHAPES if rural else _URBAN_SHAPES).draw(rng)
        head_surname = names.SURNAMES.draw(rng)
        out: list[tuple[str, str, int, str, bool, bool]] = []

        def add(relation, sex, age, surname=None, left_behind=False, alone=False):
            surname = surname or names.SURNAMES.draw(rng)
            out.append((relation, sex, max(0, age), surname, left_behind, alone))

        def children(parent_age: int, count: int, relation: str = "child", surname=None):
            age = parent_age - rng.randint(22, 34)
            for _ in range(count):
                if age < 0:
                    break
                add(relation, self.sex(0.52), age, surname or head_surname)
                age -= rng.randint(1, 6)

        def kids_count() -> int:
            r = rng.random()
            if rural:
                return 1 if r < 0.4 else 2 if r < 0.87 else 3
            return 1 if r < 0.62 else 2 if r < 0.96 else 3

        if shape == "alone_elderly":
            add("head", self.sex(0.38), rng.randint(60, 92), head_surname, alone=True)
        elif shape == "alone_adult":
            add("head", self.sex(0.6), rng.randint(20, 59), head_surname, alone=True)
        elif shape == "elderly_couple":
            age = rng.randint(60, 88)
            add("head", "M", age, head_surname)
            add("spouse", "F", age - rng.randint(0, 5))
        elif shape == "couple":
            age = rng.randint(22, 59)
            add("head", "M", age, head_surname)
            add("spouse", "F", age - rng.randint(0, 4))
        elif shape == "nuclear":
            age = rng.randint(26, 56)
            add("head", self.sex(0.85), age, head_surname)
            add("spouse", "F" if out[0][1] == "M" else "M", age + rng.randint(-4, 2))
            children(min(age, out[1][2]), kids_count())
        elif shape == "three_generations":
            if rng.random() < 0.5:  # young couple, their children, the head's parents
                age = rng.randint(30, 50)
                add("head", "M", age, head_surname)
                add("spouse", "F", age - rng.randint(0, 4))
                children(age, min(2, kids_count()))
                parent_age = age + rng.randint(24, 32)
                add("parent", "F", parent_age - rng.randint(0, 4))
                if rng.random() < 0.6:
                    add("parent", "M", parent_age, head_surname)
            else:  # old couple, married son and his wife, grandchild
                age = rng.randint(50, 70)
                add("head", "M", age, head_surname)
                add("spouse", "F", age - rng.randint(0, 4))
                son_age = age - rng.randint(24, 30)
                add("child", "M", son_age, head_surname)
                add("child_in_law", "F", son_age - rng.randint(0, 3))
                children(son_age, 1 if rng.random() < 0.6 else 2, "grandchild")
        elif shape == "single_parent":
            age = rng.randint(28, 52)
            add("head", self.sex(0.3), age, head_surname)
            children(age, 1 if rng.random() < 0.7 else 2)
        elif shape == "left_behind":
            age = rng.randint(55, 74)
            add("head", "M", age, head_surname)
            if rng.random() < 0.8:
                add("spouse", "F", age - rng.randint(0, 4))
            # Ages 3–11 on the reference date stay under 16 for years after it.
            for _ in range(1 if rng.random() < 0.55 else 2):
                add("grandchild", self.sex(0.52), rng.randint(3, 11), head_surname, True)
        else:  # elder_with_child
            age = rng.randint(62, 88)
            add("head", self.sex(0.45), age, head_surname)
            add("child", self.sex(0.6), age - rng.randint(24, 34), head_surname)
        return out[:6]


def _generate_people(
    tree: _Tree,
    seed: int,
    writer: RowWriter,
    *,
    first_ids: tuple[int, ...],
    now_value,
    progress: Progress,
    started: float,
) -> tuple[int, int, int, int]:
    """Households, persons, financial records and the facts assistance rests on (serious
    illnesses, self-care assessments, legal supporters); the counts of the first three and of
    the facts."""
    people = _People(seed)
    rng = people.rng
    rand = rng.random
    household_id, person_id, finance_id, *fact_ids = first_ids
    circumstances = Circumstances(rng, REFERENCE_DATE, tuple(fact_ids))
    total_households = sum(b.households for b in tree.buildings)
    counts = [0, 0, 0, 0]
    households: list[tuple] = []
    persons: list[tuple] = []
    records: list[tuple] = []
    serial: dict[str, int] = {}
    phone_prefixes = names.MOBILE_PREFIXES

    def flush() -> None:
        writer.write(Household, HOUSEHOLD_COLUMNS, households)
        writer.write(Person, PERSON_COLUMNS, persons)
        writer.write(FinancialRecord, FINANCE_COLUMNS, records)
        facts = (
            (SeriousIllness, ILLNESS_COLUMNS, circumstances.illnesses),
            (SelfCareAssessment, SELF_CARE_COLUMNS, circumstances.self_care),
            (LegalSupporter, SUPPORTER_COLUMNS, circumstances.supporters),
        )
        for model, columns, rows in facts:
            counts[3] += writer.write(model, columns, rows)
            rows.clear()
        counts[0] += len(households)
        counts[1] += len(persons)
        counts[2] += len(records)
        households.clear()
        persons.clear()
        records.clear()
        elapsed = time.monotonic() - started
        progress(
            f"{counts[0]:,}/{total_households:,} households, {counts[1]:,} persons, "
            f"{counts[2]:,} financial records ({writer.rows_written / elapsed:,.0f} rows/s)"
        )

    roles: dict[int, str] = {}
    for building in tree.buildings:
        region = building.district_code
        path = building.node.path
        registration = "rural" if building.rural else "urban"
        for k in range(building.households):
            index = household_id - first_ids[0]
            if index % BLOCK == 0:
                roles = circumstances.roles(index)
            role = roles.get(index, ORDINARY)
            shape = None
            if role == EXTREME_POVERTY:  # a person alone: old, or severely disabled
                shape = "alone_elderly" if rand() < 0.75 else "alone_adult"
            if building.rural:
                address = f"{building.address_prefix}{k + 1}号"
            else:
                unit = k % building.units + 1
                floor, door = divmod(k // building.units, 2)
                address = f"{building.address_prefix}{unit}单元{floor + 1}{door + 1:02d}室"
            district_serial = serial.get(region, 0) + 1
            serial[region] = district_serial
            households.append(
                (household_id, f"{region}{district_serial:09d}", address, building.node.id,
                 registration, "active", path, now_value, now_value)
            )  # fmt: skip
            # Illness and disability are commoner where income is low.
            risk = 1.8 if role else 1.0
            members: list[Member] = []
            for relation, sex, age, surname, left_behind, alone in people.members(
                building.rural, shape
            ):
                birth = people.birth(age)
                id_number = people.id_number(region, birth, sex)
                adult = age >= 18
                disability, grade = "", None
                if rand() < risk * (0.17 if age >= 60 else 0.04 if adult else 0.015):
                    disability, grade = _DISABILITY.draw(rng), _GRADES[int(rand() * 10)]
                if role == EXTREME_POVERTY and age < 60:
                    disability, grade = _DISABILITY.draw(rng), 1 + int(rand() * 2)
                chronic = rand() < risk * (0.45 if age >= 60 else 0.15 if age >= 40 else 0.02)
                capacity = work_capacity(age, disability, grade, chronic, rand)
                phone = ""
                if (adult and rand() < (0.96 if age < 70 else 0.55)) or (
                    14 <= age < 18 and rand() < 0.4
                ):
                    prefix = phone_prefixes[int(rand() * len(phone_prefixes))]
                    phone = f"{prefix}{int(rand() * 100_000_000):08d}"
                member_id = person_id + len(members)
                persons.append(
                    (member_id, household_id, relation, people.name(surname, sex, birth.year),
                     id_number, id_number[::-1], birth, sex, phone, alone, disability, grade,
                     adult and rand() < 0.085, sex == "M" and age >= 35 and rand() < 0.06,
                     left_behind, chronic, capacity, "active", None, None, path,
                     street_path_of(path), now_value, now_value)
                )  # fmt: skip
                members.append(
                    Member(member_id, age, surname, disability, grade, chronic, capacity)
                )
            for (
                member,
                category,
                kind,
                amount,
                valid_from,
                valid_to,
                note,
            ) in circumstances.finances(members, building.rural, role):
                records.append(
                    (finance_id, person_id + member, household_id, category, kind, amount,
                     valid_from, valid_to, note, path, now_value, None, "", False)
                )  # fmt: skip
                finance_id += 1
            circumstances.facts(members, role, path, now_value)
            person_id += len(members)
            household_id += 1
            if len(persons) >= CHUNK_PERSONS:
                flush()
    flush()
    return counts[0], counts[1], counts[2], counts[3]


# --- the service -----------------------------------------------------------------------------

# Every table the generator writes, in the order of `_generate_people`'s first ids after Place.
_TABLES = (
    Place, Household, Person, FinancialRecord, SeriousIllness, SelfCareAssessment, LegalSupporter,
)  # fmt: skip


def city_generate(
    *,
    actor: User | None = None,
    households: int,
    seed: int,
    progress: Progress | None = None,
) -> CitySummary:
    """Generate the demo city into an empty database, in one transaction.

    `actor` None is the operating-system user running `linli seed`. One audit entry, on the
    city, summarises what was generated.
    """
    if households < 1:
        raise ValidationFailed(
            _("Give at least one household."), details={"households": [_("At least 1.")]}
        )
    progress = progress or (lambda message: None)
    for model, columns in (
        (Place, PLACE_COLUMNS),
        (Household, HOUSEHOLD_COLUMNS),
        (Person, PERSON_COLUMNS),
        (FinancialRecord, FINANCE_COLUMNS),
        (SeriousIllness, ILLNESS_COLUMNS),
        (SelfCareAssessment, SELF_CARE_COLUMNS),
        (LegalSupporter, SUPPORTER_COLUMNS),
    ):
        check_columns(model, columns)
    with transaction.atomic():
        summary = _generate(actor, households, seed, progress)
    if connection.vendor == "postgresql":
        # Statistics for the planner, and (VACUUM) the visibility map without which the
        # covering indexes cannot answer list queries alone. VACUUM cannot run inside a
        # transaction, as when a test calls this: then statistics only.
        command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
        started = time.monotonic()
        with connection.cursor() as cursor:
            for model in _TABLES:
                cursor.execute(f"{command} {connection.ops.quote_name(model._meta.db_table)}")
        progress(f"{command} ({time.monotonic() - started:.1f} s)")
    return summary


def _generate(actor: User | None, households: int, seed: int, progress: Progress) -> CitySummary:
    if Place.objects.exists() or Household.objects.exists() or Person.objects.exists():
        raise Conflict(
            _(
                "The database already holds places or people: seed an empty database "
                "(or pass --if-empty to keep what is there)."
            )
        )
    started = time.monotonic()
    writer = RowWriter()
    tree = _plan_tree(households, seed, next_id(Place))
    by_level: dict[str, int] = {}
    for n in tree.nodes:
        key = PlaceLevel(n.level).name.lower()
        by_level[key] = by_level.get(key, 0) + 1
    with indexes_and_foreign_keys_deferred([Household, Person, FinancialRecord]):
        writer.write(Place, PLACE_COLUMNS, [n.row(writer.json_value) for n in tree.nodes])
        progress(
            "places: "
            + ", ".join(f"{v:,} {k}" for k, v in by_level.items())
            + f" ({time.monotonic() - started:.1f} s)"
        )
        counts = _generate_people(
            tree,
            seed,
            writer,
            first_ids=tuple(next_id(model) for model in _TABLES[1:]),
            now_value=writer.datetime_value(timezone.now()),
            progress=progress,
            started=started,
        )
        indexing = time.monotonic()
    progress(f"indexes and foreign keys rebuilt ({time.monotonic() - indexing:.1f} s)")
    writer.reset_sequences(list(_TABLES))
    city = Place.objects.get(pk=tree.city.id)
    min_lng, min_lat, max_lng, max_lat = tree.city.polygon.bounds
    summary = CitySummary(
        city_id=city.id,
        places=by_level,
        households=counts[0],
        persons=counts[1],
        financial_records=counts[2],
        person_facts=counts[3],
        seconds=time.monotonic() - started,
        bbox=(min_lat, min_lng, max_lat, max_lng),
    )
    record(
        actor=actor,
        action=AuditAction.IMPORT,
        instance=city,
        changes={
            "generator": "linli seed",
            "seed": seed,
            "households_requested": households,
            "places": by_level,
            "households": summary.households,
            "persons": summary.persons,
            "financial_records": summary.financial_records,
            "person_facts": summary.person_facts,
        },
        place_path=city.path,
        label=city.name,
    )
    return summary
