"""The actions a page or the API offers are exactly those the service accepts: one function,
`transitions.available_actions`, runs the checks each service runs."""

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linli.cases import services
from linli.cases.models import Case, Tier
from linli.cases.transitions import TRANSITIONS, available_actions
from linli.core.errors import ApplicationError, Conflict, NotFound, PermissionDenied
from linli.core.roles import Role
from linli.core.testing.factories import make_user

from .test_api import as_  # noqa: F401  (the API caller fixture)


def dispatched(actors, report, **to):
    case = report()
    services.case_register(actor=actors.grid, case_id=case.pk)
    return services.case_dispatch(actor=actors.grid, case_id=case.pk, **to)


def test_report_in_is_offered_only_to_a_summoned_department_yet_to_report_in(
    actors, report, taxonomy
):
    case = dispatched(actors, report)  # to the CGJ, without a whistle
    for actor in (actors.grid, actors.cgj):
        assert "report_in" not in available_actions(actor, case)
        with pytest.raises(PermissionDenied, match="not summoned"):
            services.case_report_in(actor=actor, case_id=case.pk)

    at_district = report(code="SJ0304")
    services.case_register(actor=actors.grid, case_id=at_district.pk)
    Case.objects.filter(pk=at_district.pk).update(tier=Tier.DISTRICT)
    services.case_whistle(
        actor=actors.operator,
        case_id=at_district.pk,
        kind="routine",
        lead_department_id=taxonomy.dept["CGJ"].pk,
        co_department_ids=[taxonomy.dept["SWJ"].pk],
    )
    at_district.refresh_from_db()
    assert "report_in" in available_actions(actors.swj, at_district)
    assert "report_in" not in available_actions(actors.grid, at_district)
    assert "report_in" not in available_actions(actors.zjj, at_district)  # not summoned
    services.case_report_in(actor=actors.swj, case_id=at_district.pk)
    assert "report_in" not in available_actions(actors.swj, at_district)  # once
    # The co-handler cannot take the case on, and is not offered it.
    assert "accept" not in available_actions(actors.swj, at_district)
    assert "accept" in available_actions(actors.cgj, at_district)
    # Nor is it re-dispatched, or whistled twice.
    assert not {"dispatch", "whistle"} & set(available_actions(actors.operator, at_district))


def test_take_on_is_offered_only_to_whom_the_case_was_dispatched(actors, report):
    to_department = dispatched(actors, report)
    assert "accept" not in available_actions(actors.grid, to_department)
    with pytest.raises(PermissionDenied, match="department you do not work in"):
        services.case_accept(actor=actors.grid, case_id=to_department.pk)
    assert "accept" in available_actions(actors.cgj, to_department)

    to_himself = dispatched(actors, report, handler_id=actors.grid.pk)
    assert "accept" in available_actions(actors.grid, to_himself)
    assert "accept" not in available_actions(actors.cgj, to_himself)
    services.case_accept(actor=actors.grid, case_id=to_himself.pk)
    to_himself.refresh_from_db()
    # Only the one who took it on reports it handled.
    assert "report_handled" in available_actions(actors.grid, to_himself)
    assert "report_handled" not in available_actions(actors.community, to_himself)


def test_the_api_lists_the_same_actions(actors, report, as_):  # noqa: F811
    case = dispatched(actors, report)
    grid = as_(actors.grid).get(f"/{case.pk}").json()["actions"]
    cgj = as_(actors.cgj).get(f"/{case.pk}").json()["actions"]
    assert "accept" not in grid and "report_in" not in grid
    assert cgj == available_actions(actors.cgj, case) and "accept" in cgj
    assert "report_in" not in cgj


def test_the_rating_is_not_offered_once_its_window_has_passed(actors, report, settings):
    from .conftest import loop

    case = loop(actors, report())
    assert "rate" in available_actions(actors.resident, case)
    settings.LINLI_RATING_DAYS = 0
    assert "rate" not in available_actions(actors.resident, case)
    with pytest.raises(Conflict, match="rating"):
        services.case_rate(actor=actors.resident, case_id=case.pk, rating=5)


# --- every offered action is accepted, every other one refused ---------------------------------


def _perform(actors, taxonomy, other, actor, case, action, rating):
    """Take `action` through its service with valid arguments."""
    pk = case.pk
    calls = {
        "register": lambda: services.case_register(actor=actor, case_id=pk),
        "reject": lambda: services.case_reject(actor=actor, case_id=pk, reason="不属于受理范围"),
        "merge": lambda: services.case_merge(actor=actor, case_id=pk, into_case_id=other.pk),
        "dispatch": lambda: services.case_dispatch(actor=actor, case_id=pk),
        "accept": lambda: services.case_accept(actor=actor, case_id=pk),
        "report_handled": lambda: services.case_report_handled(
            actor=actor, case_id=pk, evidence="已处置"
        ),
        "verify": lambda: services.case_verify(actor=actor, case_id=pk, passed=True),
        "verify_fail": lambda: services.case_verify(
            actor=actor, case_id=pk, passed=False, note="没有处理好"
        ),
        "close_fixed": lambda: services.case_close(actor=actor, case_id=pk),
        "close_other": lambda: services.case_close(
            actor=actor, case_id=pk, reason="cannot_fix", note="无法解决"
        ),
        "rate": lambda: services.case_rate(actor=actor, case_id=pk, rating=rating),
        "escalate": lambda: services.case_escalate(actor=actor, case_id=pk, reason="需要上级协调"),
        "whistle": lambda: services.case_whistle(
            actor=actor,
            case_id=pk,
            kind="coordination",
            lead_department_id=taxonomy.dept["CGJ"].pk,
            co_department_ids=[taxonomy.dept["SWJ"].pk],
        ),
        "report_in": lambda: services.case_report_in(actor=actor, case_id=pk),
    }
    return calls[action]()


@pytest.fixture
def everyone(actors, admin):
    return [
        actors.grid,
        actors.community,
        actors.street,
        actors.operator,
        actors.auditor,
        actors.resident,
        actors.cgj,
        actors.swj,
        actors.zjj,
        admin,
        make_user("district", Role.STREET_OFFICER, [actors.operator.places.get()]),
    ]


# Every action a person may take ("rework" follows a bad rating by itself).
ACTIONS = [action for action in TRANSITIONS if action != "rework"]


# Where a walk starts: the steps taken first (index into `everyone`, action). A walk from the
# report alone ends soon (a reject, a merge); these put it deep in the loop and at the whistle.
REGISTER, DISPATCH = (0, "register"), (0, "dispatch")
TO_DISTRICT = [(0, "escalate"), (1, "escalate"), (2, "escalate"), (10, "register")]
STARTS = [
    [],
    [REGISTER],
    [REGISTER, DISPATCH],
    [REGISTER, DISPATCH, (6, "accept")],
    [REGISTER, DISPATCH, (6, "accept"), (6, "report_handled")],
    [REGISTER, DISPATCH, (6, "accept"), (6, "report_handled"), (0, "verify")],
    [*TO_DISTRICT],
    [*TO_DISTRICT, (3, "whistle")],
    [*TO_DISTRICT, (3, "whistle"), (7, "report_in"), (6, "accept")],
]


def _offered(everyone, case) -> list:
    """(actor, action) pairs offered now; pages and the API offer only on a case one sees."""
    seeing = [a for a in everyone if Case.objects.restrict(a).filter(pk=case.pk).exists()]
    return [(a, x) for a in seeing for x in available_actions(a, case)]


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    start=st.sampled_from(STARTS),
    choices=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=6),
    probes=st.lists(st.tuples(st.integers(0, 10), st.sampled_from(ACTIONS)), min_size=6),
    rating=st.integers(1, 5),
)
def test_every_offered_action_is_accepted_and_no_other(
    actors, taxonomy, report, everyone, start, choices, probes, rating
):
    """A random walk round the loop. At each step every offered (actor, action) pair is taken
    (and rolled back): the service must accept each; a drawn pair not offered must be refused.
    Then one offered pair, drawn, moves the case on."""
    with transaction.atomic():
        case, other = report(code="SJ0304"), report(code="SJ0304", description="同一处又一个")
        for who, action in start:
            _perform(actors, taxonomy, other, everyone[who], case, action, rating)
        for choice, (who, action) in zip(choices, probes, strict=False):
            case.refresh_from_db()
            offered = _offered(everyone, case)
            for actor, offer in offered:
                with transaction.atomic():
                    try:
                        _perform(actors, taxonomy, other, actor, case, offer, rating)
                    except ApplicationError as exc:
                        pytest.fail(f"{offer} offered to {actor} in {case.state}, refused: {exc}")
                    transaction.set_rollback(True)
            if (everyone[who], action) not in offered:
                with pytest.raises((NotFound, PermissionDenied, Conflict)), transaction.atomic():
                    _perform(actors, taxonomy, other, everyone[who], case, action, rating)
            if not offered:
                break
            actor, action = offered[choice % len(offered)]
            _perform(actors, taxonomy, other, actor, case, action, rating)
        transaction.set_rollback(True)
