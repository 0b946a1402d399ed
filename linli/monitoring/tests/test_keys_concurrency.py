"""Races on key households that only a database with real concurrent writers can show
(PostgreSQL): two people adding the same household at once make one record; a follow-up
resent while the first is being stored lands once; a follow-up racing a release never lands
after it."""

from __future__ import annotations

import pytest

from linli.core.errors import Conflict
from linli.core.testing.concurrency import race
from linli.monitoring import keys
from linli.monitoring.models import FollowUp, KeyHousehold

from .fixtures_keys import *  # noqa: F403  (the fixtures)
from .fixtures_keys import TODAY

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("postgresql_only", "clock"),
]


def test_two_adds_at_once_make_one_record(staff, homes):
    outcomes = race(
        *[
            lambda who=who: keys.key_household_add(
                actor=who, household_id=homes.mine.pk, reason="独居"
            )
            for who in (staff.community, staff.street)
        ]
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "KeyHousehold"]
    assert KeyHousehold.objects.filter(household=homes.mine).count() == 1


def test_a_follow_up_resent_at_once_lands_once(staff, homes):
    key = keys.key_household_add(actor=staff.community, household_id=homes.mine.pk, reason="r")

    def send():
        return keys.follow_up_record(
            actor=staff.grid,
            key_household_id=key.pk,
            done_on=TODAY,
            note="回访",
            idempotency_key="race-token-1",
        )

    outcomes = race(send, send, send)
    assert len({o.pk for o in outcomes}) == 1
    assert FollowUp.objects.count() == 1


def test_a_follow_up_racing_a_release(staff, homes):
    key = keys.key_household_add(actor=staff.community, household_id=homes.mine.pk, reason="r")
    outcomes = race(
        lambda: keys.follow_up_record(
            actor=staff.grid,
            key_household_id=key.pk,
            done_on=TODAY,
            note="回访",
            idempotency_key="race-token-2",
        ),
        lambda: keys.key_household_release(
            actor=staff.community, key_household_id=key.pk, reason="已脱困"
        ),
    )
    key.refresh_from_db()
    assert key.released_on == TODAY
    if isinstance(outcomes[0], Conflict):  # the release came first
        assert not FollowUp.objects.exists()
    else:
        assert FollowUp.objects.get().pk == outcomes[0].pk
