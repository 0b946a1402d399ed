"""Key-household services: add (one open record per household), follow up (idempotent, the
next date by calendar months, safe at month ends), release (a reason required); each audited,
within the actor's jurisdiction and role."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linli.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from linli.core.models import AuditEntry
from linli.monitoring import keys
from linli.monitoring.models import FollowUp, KeyHousehold

from .fixtures_keys import *  # noqa: F403  (the fixtures)
from .fixtures_keys import TODAY, make_alert, make_household

pytestmark = pytest.mark.usefixtures("clock")


def add(actor, household, **extra):
    return keys.key_household_add(
        actor=actor,
        household_id=household.pk,
        reason=extra.pop("reason", "低保边缘，独居"),
        **extra,
    )


def follow(actor, key, done_on=TODAY, token="token-0001", note="电话回访，情况稳定"):
    return keys.follow_up_record(
        actor=actor, key_household_id=key.pk, done_on=done_on, note=note, idempotency_key=token
    )


def entries(instance):
    return AuditEntry.objects.filter(
        object_type=instance._meta.label_lower, object_id=str(instance.pk)
    )


# --- adding ---------------------------------------------------------------------------------


def test_a_community_worker_adds_a_household_due_a_month_later_at_the_month_end(staff, homes):
    key = add(staff.community, homes.mine)
    assert key.since == TODAY == dt.date(2026, 1, 31)
    # 31 January + 1 month is the last day of February, not 3 March.
    assert key.next_follow_up_on == dt.date(2026, 2, 28)
    assert key.grid_path.endswith("370502001001001/") and key.place_path.startswith(key.grid_path)
    assert key.created_by == staff.community
    entry = entries(key).get()
    assert entry.action == "create" and homes.mine.number in entry.object_label
    assert entry.changes["reason"] == [None, "低保边缘，独居"]


def test_the_schedule_and_the_alert_are_kept(staff, homes, rule):
    alert = make_alert(homes.mine, rule)
    key = add(staff.street, homes.mine, follow_up_months=3, alert_id=alert.pk)
    assert key.alert == alert and key.next_follow_up_on == dt.date(2026, 4, 30)


def test_one_open_record_per_household(staff, homes):
    add(staff.community, homes.mine)
    with pytest.raises(Conflict) as refused:
        add(staff.street, homes.mine)
    assert homes.mine.number in refused.value.message
    assert "already a key household" in refused.value.message
    assert KeyHousehold.objects.count() == 1


def test_released_households_can_be_added_again(staff, homes):
    first = add(staff.community, homes.mine)
    keys.key_household_release(actor=staff.community, key_household_id=first.pk, reason="已脱困")
    second = add(staff.community, homes.mine, reason="再次返贫")
    assert second.pk != first.pk and KeyHousehold.objects.filter(household=homes.mine).count() == 2


@pytest.mark.parametrize("who", ["grid", "auditor", "resident"])
def test_only_community_street_and_bureau_add(staff, homes, who):
    with pytest.raises(PermissionDenied):
        add(getattr(staff, who), homes.mine)


def test_a_household_outside_the_jurisdiction_is_not_found(staff, homes):
    with pytest.raises(NotFound):
        add(staff.community, homes.other)
    for bad in (0, -1, "x", None, 2**70):
        with pytest.raises(NotFound):
            keys.key_household_add(actor=staff.community, household_id=bad, reason="r")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"reason": ""}, "reason"),
        ({"reason": "   "}, "reason"),
        ({"reason": "x" * 301}, "reason"),
        ({"reason": "bell\x07"}, "reason"),
        ({"follow_up_months": 0}, "follow_up_months"),
        ({"follow_up_months": 13}, "follow_up_months"),
        ({"follow_up_months": "two"}, "follow_up_months"),
        ({"follow_up_months": 1.5}, "follow_up_months"),
    ],
)
def test_bad_input_names_the_field(staff, homes, fields, field):
    with pytest.raises(ValidationFailed) as refused:
        add(staff.community, homes.mine, **fields)
    assert field in refused.value.details
    assert not KeyHousehold.objects.exists()


def test_an_alert_of_another_household_is_refused(staff, homes, rule):
    alert = make_alert(homes.second, rule)
    with pytest.raises(ValidationFailed) as refused:
        add(staff.community, homes.mine, alert_id=alert.pk)
    assert "alert" in refused.value.details
    outside = make_alert(homes.other, rule)
    with pytest.raises(NotFound):
        add(staff.community, homes.mine, alert_id=outside.pk)


def test_an_inactive_household_is_refused(staff, town):
    gone = make_household(town.building, status="moved_out")
    with pytest.raises(Conflict) as refused:
        add(staff.community, gone)
    assert "moved out" in refused.value.message


# --- following up ---------------------------------------------------------------------------


def test_a_grid_worker_follows_up_and_the_next_date_moves_on(staff, homes, clock):
    key = add(staff.community, homes.mine)
    clock.move_to(dt.datetime(2026, 3, 31, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))))
    done = follow(staff.grid, key, done_on=dt.date(2026, 3, 31))
    key.refresh_from_db()
    assert done.by == staff.grid and done.key_household == key
    assert key.last_follow_up_on == dt.date(2026, 3, 31)
    assert key.next_follow_up_on == dt.date(2026, 4, 30)  # April has 30 days
    assert entries(done).get().action == "create"
    assert entries(key).filter(action="update").get().changes["next_follow_up_on"] == [
        "2026-02-28",
        "2026-04-30",
    ]


def test_a_resent_follow_up_is_stored_once(staff, homes):
    key = add(staff.community, homes.mine)
    first = follow(staff.grid, key)
    again = follow(staff.grid, key)
    assert again.pk == first.pk and getattr(again, "resent", False)
    assert FollowUp.objects.count() == 1
    assert AuditEntry.objects.filter(object_type="monitoring.followup").count() == 1


def test_an_idempotency_key_used_for_another_household_is_refused(staff, homes):
    first = add(staff.community, homes.mine)
    second = add(staff.community, homes.second)
    follow(staff.grid, first, token="same-token-1")
    with pytest.raises(Conflict) as refused:
        follow(staff.grid, second, token="same-token-1")
    assert "idempotency_key" in refused.value.details
    assert FollowUp.objects.count() == 1


def test_a_resend_seen_from_outside_the_jurisdiction_is_not_found(staff, homes):
    key = add(staff.community, homes.mine)
    follow(staff.grid, key, token="token-outside")
    with pytest.raises(NotFound):
        follow(staff.neighbour, key, token="token-outside")


def test_a_backdated_follow_up_does_not_pull_the_next_date_back(staff, homes, clock):
    key = add(staff.community, homes.mine)
    clock.move_to(dt.datetime(2026, 3, 20, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))))
    follow(staff.grid, key, done_on=dt.date(2026, 3, 20), token="token-late")
    follow(staff.grid, key, done_on=dt.date(2026, 2, 15), token="token-early")
    key.refresh_from_db()
    assert key.last_follow_up_on == dt.date(2026, 3, 20)
    assert key.next_follow_up_on == dt.date(2026, 4, 20)


@pytest.mark.parametrize(
    ("done_on", "field"),
    [
        (TODAY + dt.timedelta(days=1), "done_on"),
        (TODAY - dt.timedelta(days=1), "done_on"),  # before the household was added
        ("2026-13-01", "done_on"),
        ("", "done_on"),
    ],
)
def test_bad_follow_up_dates_are_refused(staff, homes, done_on, field):
    key = add(staff.community, homes.mine)
    with pytest.raises(ValidationFailed) as refused:
        follow(staff.grid, key, done_on=done_on)
    assert field in refused.value.details
    assert not FollowUp.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"note": ""}, "note"),
        ({"note": "x" * 2001}, "note"),
        ({"token": "short"}, "idempotency_key"),
        ({"token": "bad token with spaces"}, "idempotency_key"),
        ({"token": ""}, "idempotency_key"),
    ],
)
def test_bad_follow_up_fields_are_refused(staff, homes, fields, field):
    key = add(staff.community, homes.mine)
    with pytest.raises(ValidationFailed) as refused:
        follow(staff.grid, key, **fields)
    assert field in refused.value.details


def test_who_may_follow_up(staff, homes):
    key = add(staff.community, homes.mine)
    for who in (staff.auditor, staff.resident):
        with pytest.raises(PermissionDenied):
            follow(who, key)
    with pytest.raises(NotFound):
        follow(staff.neighbour, key)
    follow(staff.bureau, key, token="token-bureau")  # manages key households: may follow up
    assert FollowUp.objects.count() == 1


def test_a_released_household_is_not_followed_up(staff, homes):
    key = add(staff.community, homes.mine)
    keys.key_household_release(actor=staff.community, key_household_id=key.pk, reason="已脱困")
    with pytest.raises(Conflict) as refused:
        follow(staff.grid, key)
    assert "released" in refused.value.message


# --- releasing ------------------------------------------------------------------------------


def test_release_needs_a_reason_and_happens_once(staff, homes):
    key = add(staff.community, homes.mine)
    for blank in ("", "  ", None):
        with pytest.raises(ValidationFailed) as refused:
            keys.key_household_release(actor=staff.street, key_household_id=key.pk, reason=blank)
        assert "reason" in refused.value.details
    released = keys.key_household_release(
        actor=staff.street, key_household_id=key.pk, reason="已纳入低保，生活稳定"
    )
    assert released.released_on == TODAY and released.release_reason == "已纳入低保，生活稳定"
    assert entries(key).filter(action="update").get().changes["released_on"] == [None, "2026-01-31"]
    with pytest.raises(Conflict):
        keys.key_household_release(actor=staff.street, key_household_id=key.pk, reason="again")


def test_who_may_release(staff, homes):
    key = add(staff.community, homes.mine)
    with pytest.raises(PermissionDenied):
        keys.key_household_release(actor=staff.grid, key_household_id=key.pk, reason="r")
    with pytest.raises(NotFound):
        keys.key_household_release(actor=staff.other_street, key_household_id=key.pk, reason="r")
    key.refresh_from_db()
    assert key.released_on is None


def test_personal_numbers_typed_into_a_reason_are_masked_in_the_audit(staff, homes):
    key = add(staff.community, homes.mine, reason="联系电话 13812345678")
    assert "13812345678" not in str(entries(key).get().changes)


# --- month arithmetic -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (dt.date(2026, 1, 31), 1, dt.date(2026, 2, 28)),
        (dt.date(2028, 1, 31), 1, dt.date(2028, 2, 29)),
        (dt.date(2026, 3, 31), 1, dt.date(2026, 4, 30)),
        (dt.date(2026, 8, 31), 6, dt.date(2027, 2, 28)),
        (dt.date(2026, 12, 15), 1, dt.date(2027, 1, 15)),
        (dt.date(2026, 11, 30), 12, dt.date(2027, 11, 30)),
    ],
)
def test_add_months_at_month_ends(day, months, expected):
    assert keys.add_months(day, months) == expected


@given(st.dates(dt.date(1990, 1, 1), dt.date(2090, 12, 31)), st.integers(1, 12))
def test_add_months_lands_in_the_right_month_never_later_in_it(day, months):
    later = keys.add_months(day, months)
    assert (later.year * 12 + later.month) - (day.year * 12 + day.month) == months
    assert later.day == day.day or (later.day < day.day and (later + dt.timedelta(days=1)).day == 1)
