import datetime as dt

import pytest

from linli.cases import services
from linli.cases.models import Case, CaseEvent, CaseState, Outbox, Tier, WhistleSummons
from linli.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from linli.core.models import AuditEntry
from linli.core.workdays import whole_second


@pytest.fixture
def at_district(actors, report):
    """A registered case escalated to the district, where only the whistle is left."""
    case = report(code="SJ0304")  # illegal construction
    services.case_register(actor=actors.grid, case_id=case.pk)
    Case.objects.filter(pk=case.pk).update(tier=Tier.DISTRICT)
    return case


def whistle(actors, taxonomy, case, kind="coordination", **more):
    return services.case_whistle(
        actor=actors.operator,
        case_id=case.pk,
        kind=kind,
        lead_department_id=taxonomy.dept["CGJ"].pk,
        co_department_ids=[taxonomy.dept["SWJ"].pk, taxonomy.dept["CGJ"].pk],
        note="联合执法",
        **more,
    )


def test_only_the_district_centre_whistles_and_only_at_the_district(
    actors, taxonomy, report, at_district
):
    low = report()
    services.case_register(actor=actors.grid, case_id=low.pk)
    with pytest.raises(Conflict, match="district"):
        whistle(actors, taxonomy, low)
    with pytest.raises(PermissionDenied):
        services.case_whistle(
            actor=actors.street,
            case_id=at_district.pk,
            kind="routine",
            lead_department_id=taxonomy.dept["CGJ"].pk,
        )
    for bad in (
        {"kind": "loud"},
        {"lead_department_id": 99999},
        {"co_department_ids": ["x"]},
        {"report_in_hours": "0"},
        {"report_in_hours": "abc"},
    ):
        args = {
            "actor": actors.operator,
            "case_id": at_district.pk,
            "kind": "routine",
            "lead_department_id": taxonomy.dept["CGJ"].pk,
            **bad,
        }
        with pytest.raises(ValidationFailed):
            services.case_whistle(**args)
    assert not WhistleSummons.objects.exists()


def test_summoned_departments_report_in_and_the_lead_closes_the_loop(actors, taxonomy, at_district):
    blown = whistle(actors, taxonomy, at_district)
    case = Case.objects.get(pk=at_district.pk)
    assert (case.state, case.department.code) == (CaseState.DISPATCHED, "CGJ")
    summons = {s.department.code: s for s in blown.summons.all()}
    assert set(summons) == {"CGJ", "SWJ"} and summons["CGJ"].is_lead
    assert summons["SWJ"].report_in_by > blown.blown_at
    # Lead handlers as handlers of the case, co-handlers as summoned departments, are told.
    told = set(Outbox.objects.filter(case=case).values_list("recipient__username", flat=True))
    assert {"cgj1", "cgj2", "swj1"} <= told
    with pytest.raises(Conflict, match="already"):
        whistle(actors, taxonomy, at_district)
    with pytest.raises(Conflict, match="lead department"):
        services.case_dispatch(actor=actors.operator, case_id=case.pk)

    # The co-handler sees the case and reports in, once; it cannot take the case on.
    summons_swj = services.case_report_in(actor=actors.swj, case_id=case.pk, note="已到场")
    assert summons_swj.reported_in_at is not None
    with pytest.raises(Conflict, match="already reported"):
        services.case_report_in(actor=actors.swj, case_id=case.pk)
    with pytest.raises(PermissionDenied):
        services.case_accept(actor=actors.swj, case_id=case.pk)
    with pytest.raises(NotFound):  # not summoned: cannot even see it
        services.case_report_in(actor=actors.zjj, case_id=case.pk)

    # Taking the case on reports the lead in.
    services.case_accept(actor=actors.cgj, case_id=case.pk)
    assert WhistleSummons.objects.get(pk=summons["CGJ"].pk).reported_in_at is not None
    reports = CaseEvent.objects.filter(case=case, action="report_in")
    assert sorted(e.data["department"] for e in reports) == ["城市管理局", "水务局"]
    assert AuditEntry.objects.filter(object_type="cases.whistlesummons").count() == 2

    # Until the lead reports it handled, the case cannot close (not even unfixed).
    with pytest.raises(Conflict, match="lead department"):
        services.case_close(actor=actors.operator, case_id=case.pk, reason="cannot_fix", note="x")
    services.case_report_handled(actor=actors.cgj, case_id=case.pk, evidence="已拆除")
    services.case_verify(actor=actors.grid, case_id=case.pk, passed=True)
    case = services.case_close(actor=actors.operator, case_id=case.pk)
    assert case.state == CaseState.CLOSED_FIXED


def test_report_in_deadlines_follow_the_kind(actors, taxonomy, at_district, report):
    blown = whistle(actors, taxonomy, at_district, kind="emergency")
    lead = blown.summons.get(is_lead=True)
    # On the clock, to the whole second rounded up.
    assert lead.report_in_by == whole_second(blown.blown_at) + dt.timedelta(minutes=30)
    other = report(code="SJ0304")
    services.case_register(actor=actors.grid, case_id=other.pk)
    Case.objects.filter(pk=other.pk).update(tier=Tier.DISTRICT)
    given = services.case_whistle(
        actor=actors.operator,
        case_id=other.pk,
        kind="routine",
        lead_department_id=taxonomy.dept["ZJJ"].pk,
        report_in_hours="1.5",
    )
    lead = given.summons.get()
    assert lead.department.code == "ZJJ" and lead.report_in_by > given.blown_at
