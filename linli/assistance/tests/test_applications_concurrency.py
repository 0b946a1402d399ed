"""Races only a database with real concurrent writers can show (PostgreSQL): two people acting
on one application at once, two submissions for one household at once."""

import datetime as dt

import pytest

from linli.assistance.models import Application, Benefit
from linli.core.errors import ApplicationError
from linli.core.models import AuditEntry
from linli.core.testing.concurrency import race

from .fixtures_applications import *  # noqa: F403  (the fixtures)
from .fixtures_applications import MONDAY, act, submit, to_decision

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("postgresql_only", "clock", "policy"),
]


def test_two_officers_accepting_at_once_exactly_one_wins(staff, homes):
    application = submit(staff.community, homes.poor)
    outcomes = race(
        lambda: act(staff.street, application, "accept"),
        lambda: act(staff.street2, application, "accept"),
    )
    winners = [o for o in outcomes if isinstance(o, Application)]
    losers = [o for o in outcomes if isinstance(o, ApplicationError)]
    assert len(winners) == 1 and len(losers) == 1
    assert losers[0].status == 409
    changes = AuditEntry.objects.filter(
        object_type="assistance.application", object_id=str(application.pk)
    )
    assert changes.count() == 2  # submitted, accepted once


def test_approving_and_rejecting_at_once_decide_once(staff, homes, clock, town):
    from linli.core.roles import Role
    from linli.core.testing.factories import make_user

    application = submit(staff.community, homes.poor)
    to_decision(staff, application, clock)
    other_bureau = make_user("a_bureau2", Role.CIVIL_AFFAIRS, [town.district])
    outcomes = race(
        lambda: act(staff.bureau, application, "approve"),
        lambda: act(other_bureau, application, "reject", note="有隐瞒收入"),
    )
    assert sum(isinstance(o, Application) for o in outcomes) == 1
    assert sum(isinstance(o, ApplicationError) and o.status == 409 for o in outcomes) == 1
    application.refresh_from_db()
    assert Benefit.objects.filter(application=application).count() == (
        1 if application.state == "approved" else 0
    )


def test_two_submissions_at_once_file_one_application(staff, homes):
    outcomes = race(
        lambda: submit(staff.community, homes.poor),
        lambda: submit(staff.resident, homes.poor),
        lambda: submit(staff.grid, homes.poor, channel="grid_worker", consent_note="同意"),
    )
    assert sum(isinstance(o, Application) for o in outcomes) == 1
    refused = [o for o in outcomes if isinstance(o, ApplicationError)]
    assert len(refused) == 2
    assert all(o.code == "already_applied" for o in refused), [o.message for o in refused]
    assert Application.objects.count() == 1


def test_the_notice_job_and_an_officer_ending_it_at_once_move_it_once(staff, homes, clock):
    from linli.assistance.applications import notices_end

    application = submit(staff.community, homes.poor)
    act(staff.street, application, "accept")
    from .fixtures_applications import investigate

    investigate(staff.community, application)
    act(staff.street, application, "start_notice")
    clock.move_to(MONDAY + dt.timedelta(days=7))
    outcomes = race(notices_end, lambda: act(staff.street, application, "end_notice"))
    moved = (outcomes[0] == 1) + isinstance(outcomes[1], Application)
    assert moved == 1
    application.refresh_from_db()
    assert application.state == "awaiting_decision"
