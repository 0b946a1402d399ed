"""Demo cases: consistent with what the services would have written, and deterministic."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from shapely.geometry import Point, shape

from linli.cases.models import CLOSED_STATES, Case, CaseEvent, CaseState
from linli.cases.statistics import Grouping, case_statistics
from linli.core.models import User
from linli.core.roles import Role
from linli.places.models import Place, PlaceLevel


@pytest.fixture
def city(db):
    quiet = {"stdout": io.StringIO(), "stderr": io.StringIO()}
    call_command("load_case_categories", **quiet)
    call_command("load_workday_calendar", **quiet)
    call_command("seed", households=150, seed=2, **quiet)


def seed_cases(**options) -> str:
    """What the command printed, standard output then standard error."""
    out, err = io.StringIO(), io.StringIO()
    call_command("seed_cases", stdout=out, stderr=err, **options)
    return out.getvalue() + err.getvalue()


def test_cases_follow_the_loop_and_land_in_their_grid(city):
    assert "Generated 300 cases" in seed_cases(cases=300, seed=4)
    cases = list(Case.objects.select_related("grid"))
    states = {c.state for c in cases}
    assert {CaseState.RATED, CaseState.CLOSED_FIXED, CaseState.REJECTED} <= states
    assert states & {CaseState.REPORTED, CaseState.REGISTERED, CaseState.DISPATCHED}
    now = timezone.now()
    for case in cases:
        assert shape(case.grid.boundary).contains(Point(case.lng, case.lat))
        assert case.place_path == case.grid.path and case.reported_at < now
        steps = list(CaseEvent.objects.filter(case=case).order_by("at", "id"))
        assert steps[0].action == "report" and steps[-1].to_state == case.state
        assert [s.at for s in steps] == sorted(s.at for s in steps)
        if case.state in CLOSED_STATES and case.state != CaseState.REJECTED:
            assert case.closed_at and case.closed_on_time is not None
            assert case.registered_at < case.dispatched_at <= case.handled_at <= case.closed_at
        if case.is_open:
            assert case.stage_deadline is not None
    assert all(c.department_id for c in cases if c.dispatched_at)


def test_the_statistics_of_the_demo_are_plausible_and_the_seed_repeats(city):
    seed_cases(cases=200, seed=9)
    first = list(Case.objects.order_by("number").values_list("number", "state", "category_id"))
    operator = User.objects.create(username="op", role=Role.COMMAND_OPERATOR)
    operator.places.set([Place.objects.get(level=PlaceLevel.CITY)])
    stats = case_statistics(
        actor=operator,
        start=timezone.localdate() - timezone.timedelta(days=200),
        end=timezone.localdate(),
        grouping=Grouping.STREET,
    )
    assert stats.total.reported == 200
    assert 80 <= stats.total.registration_rate <= 100
    assert 50 <= stats.total.close_on_time_rate <= 100
    assert stats.total.average_rating >= 3

    assert "Cases already exist; nothing generated." in seed_cases(cases=200, seed=9, if_empty=True)
    assert Case.objects.count() == 200  # --if-empty left them alone
    Case.objects.all().delete()
    seed_cases(cases=200, seed=9)
    again = list(Case.objects.order_by("number").values_list("number", "state", "category_id"))
    assert again == first


def test_without_a_city_it_says_what_to_run_first(db):
    with pytest.raises(CommandError, match="linli seed"):
        seed_cases(cases=5)
