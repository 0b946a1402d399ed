from linli.cases import selectors, services
from linli.cases.models import CaseState, WarningLevel
from linli.cases.selectors import CaseFilter
from linli.cases.sweep import run_sweep

from .conftest import THERE


def test_queues_and_lists_follow_the_jurisdiction(town, actors, report, taxonomy):
    mine = report()
    theirs = report(point=THERE, code="SJ0201")
    services.case_register(actor=actors.grid, case_id=mine.pk)
    services.case_dispatch(actor=actors.grid, case_id=mine.pk)

    assert list(selectors.handler_inbox(actor=actors.cgj)) == [mine]
    assert list(selectors.handler_inbox(actor=actors.swj)) == []
    services.case_accept(actor=actors.cgj, case_id=mine.pk)
    assert list(selectors.handler_inbox(actor=actors.cgj2)) == []  # taken by a colleague
    assert list(selectors.handler_inbox(actor=actors.cgj)) == [mine]

    assert set(selectors.case_list(actor=actors.operator)) == {mine, theirs}
    assert list(selectors.case_list(actor=actors.grid)) == [mine]
    by_major = CaseFilter(category_id=taxonomy.cat["SJ02"].pk)
    assert list(selectors.case_list(actor=actors.operator, filters=by_major)) == [theirs]
    in_street = CaseFilter(place_path=town.other_street.path, states=(CaseState.REPORTED,))
    assert list(selectors.case_list(actor=actors.operator, filters=in_street)) == [theirs]
    assert list(selectors.case_list(actor=actors.auditor)) != []
    assert list(selectors.case_list(actor=actors.other_resident)) == []

    mine.refresh_from_db()
    run_sweep(mine.stage_deadline)
    assert set(selectors.overdue_queue(actor=actors.operator)) == {mine, theirs}
    assert list(selectors.overdue_queue(actor=actors.grid)) == [mine]
    assert selectors.case_get(actor=actors.cgj, case_id=mine.pk).warning == WarningLevel.RED
    actions = [e.action for e in selectors.case_timeline(actor=actors.resident, case_id=mine.pk)]
    assert actions == ["report", "register", "dispatch", "accept", "overdue"]


def test_the_category_tree_lists_active_classes(taxonomy):
    taxonomy.cat["SJ0101"].is_active = False
    taxonomy.cat["SJ0101"].save()
    tree = {major.code: [m.code for m in major.minors.all()] for major in selectors.category_tree()}
    assert len(tree) == 12
    assert "SJ0101" not in tree["SJ01"] and "SJ0102" in tree["SJ01"]


def test_waiting_for_me_is_the_next_step_at_my_tier(actors, report):
    from linli.cases import services

    reported = report()
    registered = report(description="另一处")
    services.case_register(actor=actors.grid, case_id=registered.pk)
    escalated = report(description="大事")
    services.case_escalate(actor=actors.grid, case_id=escalated.pk, reason="需要社区协调")
    handled = report(description="已处置")
    services.case_register(actor=actors.grid, case_id=handled.pk)
    services.case_dispatch(actor=actors.grid, case_id=handled.pk)
    services.case_accept(actor=actors.cgj, case_id=handled.pk)
    services.case_report_handled(actor=actors.cgj, case_id=handled.pk, evidence="已清理")

    def numbers(actor):
        return {c.pk for c in selectors.waiting_for(actor=actor)}

    # The grid worker registers, dispatches and verifies grid cases; the escalated one has gone.
    assert numbers(actors.grid) == {reported.pk, registered.pk, handled.pk}
    assert numbers(actors.community) == {escalated.pk}  # held at the community tier now
    assert numbers(actors.neighbour) == set()  # the other grid
    assert numbers(actors.cgj) == set()  # taken on and handled: nothing left for the bureau
    assert numbers(actors.operator) == set()  # nothing at the district tier

    # Up to the district: the command centre is waited for.
    services.case_escalate(actor=actors.community, case_id=escalated.pk, reason="社区无法解决")
    assert numbers(actors.street) == {escalated.pk}
    services.case_escalate(actor=actors.street, case_id=escalated.pk, reason="需多部门")
    assert numbers(actors.operator) == {escalated.pk}  # to register, at the district
    services.case_register(actor=actors.operator, case_id=escalated.pk)
    assert numbers(actors.operator) == {escalated.pk}  # to dispatch or whistle
    services.case_whistle(
        actor=actors.operator,
        case_id=escalated.pk,
        kind="coordination",
        lead_department_id=actors.cgj.departments.get().pk,
        co_department_ids=[],
    )
    assert escalated.pk not in numbers(actors.operator)
