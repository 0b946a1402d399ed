"""Test and demo builders. Valid ID numbers are made, not hard-coded."""

from __future__ import annotations

import datetime as dt
import itertools

from stdnum.cn import ric

from linli.core.models import User
from linli.core.roles import Role
from linli.places.models import Place, PlaceLevel

_serial = itertools.count(1)


def make_id_number(
    region: str = "370502",
    birth: dt.date = dt.date(1980, 1, 1),
    sequence: int | None = None,
    sex: str = "M",
) -> str:
    """A valid 18-character ID number; the sequence's parity carries the sex."""
    seq = sequence if sequence is not None else next(_serial) % 500
    seq_digits = seq * 2 + (1 if sex == "M" else 0)
    body = f"{region}{birth:%Y%m%d}{seq_digits % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def square(lng: float, lat: float, size: float) -> dict:
    return {
        "type": "Polygon",
        "coordinates": [
            [[lng, lat], [lng + size, lat], [lng + size, lat + size], [lng, lat + size], [lng, lat]]
        ],
    }


def make_place(code: str, name: str, level: int, parent: Place | None = None, **extra) -> Place:
    place = Place(code=code, name=name, level=level, parent=parent, **extra)
    place.full_clean()
    place.save()
    return place


def make_user(
    username: str, role: str = Role.GRID_WORKER, places: list[Place] | None = None, **extra
) -> User:
    user = User.objects.create_user(
        username=username, password="pw-" + username, role=role, **extra
    )
    if places:
        user.places.set(places)
    return user


class Town:
    """A small tree with two sibling jurisdictions: `mine` and the neighbour's.

    city 370500 → district 370502 → streets A (…001000) and B (…002000) → one community each
    → one grid each (with square boundaries side by side) → one building each.
    """

    def __init__(self) -> None:
        self.city = make_place("370500", "东营市", PlaceLevel.CITY)
        self.district = make_place("370502", "东营区", PlaceLevel.DISTRICT, self.city)
        self.street = make_place("370502001000", "文汇街道", PlaceLevel.STREET, self.district)
        self.community = make_place("370502001001", "银座社区", PlaceLevel.COMMUNITY, self.street)
        self.grid = make_place(
            "370502001001001",
            "银座一网格",
            PlaceLevel.GRID,
            self.community,
            boundary=square(118.00, 37.00, 0.01),
        )
        self.building = make_place("370502001001001001", "1号楼", PlaceLevel.BUILDING, self.grid)
        self.other_street = make_place(
            "370502002000", "黄河路街道", PlaceLevel.STREET, self.district
        )
        self.other_community = make_place(
            "370502002001", "黄河社区", PlaceLevel.COMMUNITY, self.other_street
        )
        self.other_grid = make_place(
            "370502002001001",
            "黄河一网格",
            PlaceLevel.GRID,
            self.other_community,
            boundary=square(118.01, 37.00, 0.01),
        )
        self.other_building = make_place(
            "370502002001001001", "9号楼", PlaceLevel.BUILDING, self.other_grid
        )
