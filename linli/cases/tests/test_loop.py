import datetime as dt

import pytest
from django.utils import timezone

from linli.cases import selectors, services
from linli.cases.models import Case, CaseEvent, CaseState, Outbox, Tier
from linli.cases.transitions import TRANSITIONS, available_actions
from linli.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from linli.core.models import AuditEntry


def told(case, event_action):
    """Who was told about the case's latest `event_action` (usernames, sorted)."""
    event = CaseEvent.objects.filter(case=case, action=event_action).latest("id")
    rows = Outbox.objects.filter(dedupe_key__startswith=f"event:{event.pk}:")
    return sorted(r.recipient.username if r.recipient else r.phone for r in rows)


def test_the_closed_loop_from_report_to_rating(actors, report):
    case = report()
    S = CaseState
    services.case_register(actor=actors.grid, case_id=case.pk)
    case = services.case_dispatch(actor=actors.grid, case_id=case.pk)  # the category's default
    assert (case.state, case.department.code, case.handler) == (S.DISPATCHED, "CGJ", None)
    assert told(case, "dispatch") == ["cgj1", "cgj2", "resident"]
    assert case in selectors.handler_inbox(actor=actors.cgj)
    case = services.case_accept(actor=actors.cgj, case_id=case.pk)
    assert (case.state, case.handler) == (S.IN_HAND, actors.cgj)
    assert told(case, "accept") == ["resident"]
    case = services.case_report_handled(actor=actors.cgj, case_id=case.pk, evidence="已清运")
    case = services.case_verify(actor=actors.grid, case_id=case.pk, passed=True)
    case = services.case_close(actor=actors.grid, case_id=case.pk)
    assert (case.state, case.close_reason) == (S.CLOSED_FIXED, "fixed")
    assert case.registered_on_time and case.dispatched_on_time and case.handled_on_time
    assert case.closed_on_time and case.stage_deadline is None
    case = services.case_rate(actor=actors.resident, case_id=case.pk, rating=5, comment="很快")
    assert (case.state, case.rating, case.rework_count) == (S.RATED, 5, 0)

    steps = list(
        CaseEvent.objects.filter(case=case).values_list("action", "from_state", "to_state")
    )
    assert steps == [
        ("report", "", S.REPORTED),
        ("register", S.REPORTED, S.REGISTERED),
        ("dispatch", S.REGISTERED, S.DISPATCHED),
        ("accept", S.DISPATCHED, S.IN_HAND),
        ("report_handled", S.IN_HAND, S.HANDLED),
        ("verify", S.HANDLED, S.VERIFIED),
        ("close", S.VERIFIED, S.CLOSED_FIXED),
        ("rate", S.CLOSED_FIXED, S.RATED),
    ]
    assert AuditEntry.objects.filter(object_type="cases.case", object_id=str(case.pk)).count() == 8
    handled = CaseEvent.objects.get(case=case, action="report_handled")
    assert (handled.note, handled.actor) == ("已清运", actors.cgj)
    assert available_actions(actors.resident, case) == []


def test_each_step_checks_role_jurisdiction_and_state(actors, report):
    case = report()
    with pytest.raises(NotFound):  # outside the jurisdiction is the same as missing
        services.case_register(actor=actors.neighbour, case_id=case.pk)
    with pytest.raises(NotFound):
        services.case_register(actor=actors.other_resident, case_id=case.pk)
    with pytest.raises(NotFound):
        services.case_register(actor=actors.grid, case_id=999999)
    with pytest.raises(PermissionDenied):
        services.case_register(actor=actors.resident, case_id=case.pk)  # the reporter
    with pytest.raises(PermissionDenied):
        services.case_register(actor=actors.auditor, case_id=case.pk)
    with pytest.raises(Conflict, match="Reported"):
        services.case_dispatch(actor=actors.grid, case_id=case.pk)
    with pytest.raises(ValidationFailed):
        services.case_reject(actor=actors.grid, case_id=case.pk, reason="  ")
    case.refresh_from_db()
    assert case.state == CaseState.REPORTED
    assert set(available_actions(actors.grid, case)) == {"register", "reject", "merge", "escalate"}
    assert available_actions(actors.auditor, case) == []

    rejected = services.case_reject(actor=actors.community, case_id=case.pk, reason="不属于本辖区")
    assert rejected.state == CaseState.REJECTED and rejected.stage_deadline is None
    assert told(rejected, "reject") == ["resident"]
    with pytest.raises(Conflict):
        services.case_register(actor=actors.grid, case_id=case.pk)


def test_a_department_sees_and_takes_on_only_what_was_dispatched_to_it(actors, report):
    case = report()
    services.case_register(actor=actors.grid, case_id=case.pk)
    with pytest.raises(NotFound):
        services.case_accept(actor=actors.cgj, case_id=case.pk)  # not dispatched yet
    services.case_dispatch(actor=actors.grid, case_id=case.pk)
    with pytest.raises(NotFound):
        services.case_accept(actor=actors.swj, case_id=case.pk)  # another department
    with pytest.raises(PermissionDenied):
        services.case_verify(actor=actors.cgj, case_id=case.pk, passed=True)
    services.case_accept(actor=actors.cgj, case_id=case.pk)
    with pytest.raises(Conflict, match="Being handled"):
        services.case_accept(actor=actors.cgj2, case_id=case.pk)  # the loser of a race
    with pytest.raises(PermissionDenied, match="took the case on"):
        services.case_report_handled(actor=actors.cgj2, case_id=case.pk, evidence="done")
    with pytest.raises(ValidationFailed):
        services.case_report_handled(actor=actors.cgj, case_id=case.pk, evidence="")


def test_a_grid_worker_handles_a_small_matter_himself(actors, report):
    case = report()
    services.case_register(actor=actors.grid, case_id=case.pk)
    case = services.case_dispatch(actor=actors.grid, case_id=case.pk, handler_id=actors.grid.pk)
    assert (case.department, case.handler) == (None, actors.grid)
    with pytest.raises(PermissionDenied, match="someone else"):
        services.case_accept(actor=actors.community, case_id=case.pk)
    services.case_accept(actor=actors.grid, case_id=case.pk)
    services.case_report_handled(actor=actors.grid, case_id=case.pk, evidence="已清理")
    # The reporter verifies it on the spot.
    case = services.case_verify(actor=actors.resident, case_id=case.pk, passed=True)
    assert case.state == CaseState.VERIFIED


def test_dispatch_refuses_unknown_or_unfit_targets(actors, report, taxonomy):
    case = report()
    services.case_register(actor=actors.grid, case_id=case.pk)
    for kwargs, field in [
        ({"department_id": 99999}, "department_id"),
        ({"handler_id": actors.neighbour.pk}, "handler_id"),  # cannot see the case
        ({"handler_id": actors.auditor.pk}, "handler_id"),  # may not handle
        ({"department_id": taxonomy.dept["SWJ"].pk, "handler_id": actors.cgj.pk}, "handler_id"),
    ]:
        with pytest.raises(ValidationFailed) as refused:
            services.case_dispatch(actor=actors.grid, case_id=case.pk, **kwargs)
        assert field in refused.value.details
    case = services.case_dispatch(
        actor=actors.grid,
        case_id=case.pk,
        department_id=taxonomy.dept["CGJ"].pk,
        handler_id=actors.cgj2.pk,
    )
    assert told(case, "dispatch") == ["cgj2", "resident"]
    with pytest.raises(PermissionDenied):
        services.case_accept(actor=actors.cgj, case_id=case.pk)


def _handled(actors, report):
    case = report()
    services.case_register(actor=actors.grid, case_id=case.pk)
    services.case_dispatch(actor=actors.grid, case_id=case.pk)
    services.case_accept(actor=actors.cgj, case_id=case.pk)
    return services.case_report_handled(actor=actors.cgj, case_id=case.pk, evidence="已清运")


def test_failed_verification_sends_it_back_as_rework(actors, report):
    case = _handled(actors, report)
    with pytest.raises(ValidationFailed, match="still wrong"):
        services.case_verify(actor=actors.grid, case_id=case.pk, passed=False)
    case = services.case_verify(actor=actors.grid, case_id=case.pk, passed=False, note="还有残留")
    assert (case.state, case.rework_count, case.handler) == (CaseState.DISPATCHED, 1, actors.cgj)
    assert case.handled_at is None and case.stage_deadline > timezone.now()
    assert told(case, "verify_fail") == ["cgj1", "resident"]
    services.case_accept(actor=actors.cgj, case_id=case.pk)
    services.case_report_handled(actor=actors.cgj, case_id=case.pk, evidence="已彻底清理")
    case = services.case_verify(actor=actors.grid, case_id=case.pk, passed=True)
    assert case.rework_count == 1


def test_a_bad_rating_within_the_window_reopens_the_case(actors, report):
    case = _handled(actors, report)
    services.case_verify(actor=actors.grid, case_id=case.pk, passed=True)
    services.case_close(actor=actors.grid, case_id=case.pk)
    for bad in (0, 6, "5", 4.5, True, None):
        with pytest.raises(ValidationFailed):
            services.case_rate(actor=actors.resident, case_id=case.pk, rating=bad)
    with pytest.raises(ValidationFailed):
        services.case_rate(actor=actors.resident, case_id=case.pk, rating=3, comment="x" * 501)
    with pytest.raises(PermissionDenied, match="reported"):
        services.case_rate(actor=actors.grid, case_id=case.pk, rating=5)
    with pytest.raises(NotFound):
        services.case_rate(actor=actors.other_resident, case_id=case.pk, rating=1)
    case = services.case_rate(actor=actors.resident, case_id=case.pk, rating=1, comment="没修好")
    assert (case.state, case.rework_count, case.rating) == (CaseState.DISPATCHED, 1, 1)
    assert list(CaseEvent.objects.filter(case=case).values_list("action", flat=True))[-2:] == [
        "rate",
        "rework",
    ]
    with pytest.raises(Conflict):
        services.case_rate(actor=actors.resident, case_id=case.pk, rating=1)  # not closed now


def test_ratings_close_with_their_window_and_do_not_reopen_cases_closed_unfixed(
    actors, report, settings
):
    settings.LINLI_RATING_DAYS = 7
    case = _handled(actors, report)
    services.case_verify(actor=actors.grid, case_id=case.pk, passed=True)
    services.case_close(actor=actors.grid, case_id=case.pk)
    Case.objects.filter(pk=case.pk).update(closed_at=timezone.now() - dt.timedelta(days=8))
    with pytest.raises(Conflict, match="passed"):
        services.case_rate(actor=actors.resident, case_id=case.pk, rating=1)

    other = report()
    services.case_register(actor=actors.grid, case_id=other.pk)
    with pytest.raises(ValidationFailed, match="Explain"):
        services.case_close(actor=actors.grid, case_id=other.pk, reason="not_our_remit")
    with pytest.raises(ValidationFailed):
        services.case_close(actor=actors.grid, case_id=other.pk, reason="duplicate", note="x")
    with pytest.raises(Conflict):
        services.case_close(actor=actors.grid, case_id=other.pk)  # fixed needs verification
    other = services.case_close(
        actor=actors.grid, case_id=other.pk, reason="not_our_remit", note="属于物业管理范围"
    )
    assert (other.state, other.close_reason) == (CaseState.CLOSED_OTHER, "not_our_remit")
    other = services.case_rate(actor=actors.resident, case_id=other.pk, rating=1)
    assert (other.state, other.rework_count) == (CaseState.RATED, 0)


def test_escalation_moves_the_case_up_one_tier_at_a_time(actors, report):
    case = report()
    with pytest.raises(ValidationFailed):
        services.case_escalate(actor=actors.grid, case_id=case.pk, reason="")
    services.case_register(actor=actors.grid, case_id=case.pk)
    services.case_dispatch(actor=actors.grid, case_id=case.pk)
    services.case_accept(actor=actors.cgj, case_id=case.pk)
    # The department cannot fix it alone: it hands the case up, back to a dispatch queue.
    case = services.case_escalate(actor=actors.cgj, case_id=case.pk, reason="需要多部门配合")
    assert (case.tier, case.state, case.department, case.handler) == (
        Tier.COMMUNITY, CaseState.REGISTERED, None, None,
    )  # fmt: skip
    assert told(case, "escalate") == ["resident"]
    # The grid worker no longer holds it; the community does.
    with pytest.raises(PermissionDenied, match="Community"):
        services.case_dispatch(actor=actors.grid, case_id=case.pk)
    case = services.case_escalate(actor=actors.community, case_id=case.pk, reason="社区无法协调")
    case = services.case_escalate(actor=actors.street, case_id=case.pk, reason="街道无法协调")
    assert (case.tier, case.escalation_count) == (Tier.DISTRICT, 3)
    with pytest.raises(Conflict, match="whistle"):
        services.case_escalate(actor=actors.street, case_id=case.pk, reason="再上报")
    with pytest.raises(PermissionDenied):
        services.case_dispatch(actor=actors.street, case_id=case.pk)
    events = CaseEvent.objects.filter(case=case, action="escalate")
    assert [e.data["tier"] for e in events] == [[5, 4], [4, 3], [3, 2]]


def test_the_transitions_table_is_closed():
    """Every target is a state, and only a rejected report is final (a rated case can still
    be reopened by its rating)."""
    targets = {t.target for t in TRANSITIONS.values()} - {None}
    assert targets <= set(CaseState.values)
    sources = set().union(*(t.sources for t in TRANSITIONS.values()))
    assert set(CaseState.values) - sources == {CaseState.REJECTED}
