"""The actions a page or the API offers are exactly those the service accepts: one function,
`transitions.available_actions`, runs the checks `application_act` runs."""

import datetime as dt

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linli.assistance.models import Application
from linli.assistance.transitions import TRANSITIONS, available_actions
from linli.core.errors import ApplicationError, Conflict, NotFound, PermissionDenied

from .fixtures_applications import *  # noqa: F403  (the fixtures)
from .fixtures_applications import MONDAY, act, submit

FIELDS = {
    "investigate": {"visitors": "李四", "findings": "家中困难"},
    "object": {"content": "有人反映有车"},
    "reject": {"note": "不符合条件"},
    "extend": {"reason": "需补充调查"},
    "withdraw": {"reason": "本人书面撤回"},
}
ACTIONS = list(TRANSITIONS)
WAIT = "wait"  # a week passes: notices end


def _everyone(staff):
    return [
        staff.grid,
        staff.community,
        staff.street,
        staff.street2,
        staff.other_street,
        staff.bureau,
        staff.auditor,
        staff.resident,
        staff.other_resident,
        staff.admin,
    ]


def _perform(actor, application, action):
    return act(actor, application, action, **FIELDS.get(action, {}))


# Where a walk starts: (household, program, submission options).
STARTS = [
    ("poor", "minimum_living", {}),
    ("poor", "minimum_living", {"credit_pledge": True}),
    ("rich", "minimum_living", {}),
    ("marginal", "marginal", {}),
    ("alone", "extreme_poverty", {}),
    ("poor", "temporary", {"temporary_kind": "emergency", "requested_amount": "1500"}),
    ("poor", "temporary", {"temporary_kind": "expenditure", "requested_amount": "5000"}),
]


def _offered(everyone, application):
    """(actor, action) pairs offered now; pages and the API offer only what one sees."""
    seeing = [
        a for a in everyone if Application.objects.restrict(a).filter(pk=application.pk).exists()
    ]
    return [(a, x) for a in seeing for x in available_actions(application, a)]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    start=st.sampled_from(STARTS),
    choices=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=8),
    probes=st.lists(st.tuples(st.integers(0, 9), st.sampled_from(ACTIONS)), min_size=8),
)
def test_every_offered_action_is_accepted_and_no_other(
    staff, homes, policy, clock, start, choices, probes
):
    """A random walk through the workflow. At each step every offered (actor, action) pair is
    taken (and rolled back): the service must accept each; a drawn pair not offered must be
    refused. Then one offered pair, or a week passing, moves the application on."""
    everyone = _everyone(staff)
    clock.move_to(MONDAY)
    household, program, options = start
    with transaction.atomic():
        application = submit(staff.community, getattr(homes, household), program, **options)
        for choice, (who, probe) in zip(choices, probes, strict=False):
            application.refresh_from_db()
            offered = _offered(everyone, application)
            for actor, offer in offered:
                with transaction.atomic():
                    try:
                        _perform(actor, application, offer)
                    except ApplicationError as exc:
                        pytest.fail(
                            f"{offer} offered to {actor} in {application.state}, refused: {exc}"
                        )
                    transaction.set_rollback(True)
            if (everyone[who], probe) not in offered:
                with pytest.raises((NotFound, PermissionDenied, Conflict)), transaction.atomic():
                    _perform(everyone[who], application, probe)
            if not offered:
                break
            moves = [*offered, (None, WAIT)]
            actor, action = moves[choice % len(moves)]
            if action == WAIT:
                clock.shift(dt.timedelta(days=7))
            else:
                _perform(actor, application, action)
        transaction.set_rollback(True)
