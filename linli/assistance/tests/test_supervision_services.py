"""Resolving findings (audited, once, never by the person named: 回避), who sees which findings,
background runs, staff relatives' declarations and the workbench's counts."""

import datetime as dt

import pytest

from linli.assistance import supervision
from linli.assistance.models import (
    Finding,
    FindingKind,
    FindingState,
    StaffRelative,
    SupervisionRun,
)
from linli.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from linli.core.models import AuditEntry
from linli.core.roles import Role
from linli.core.testing.factories import make_user

from .fixtures_supervision import fast_passwords, mid_june_2026, staff, world

__all__ = ["fast_passwords", "mid_june_2026", "staff", "world"]


@pytest.fixture
def two_streets(world, town):
    """An amount out of line in each street; the findings after a run."""
    _h1, (a,) = world.household(name="孙悟空")
    _h2, (b,) = world.household(name="猪八戒", building=town.other_building)
    world.benefit(a, amount="900.00")
    world.benefit(b, amount="900.00")
    supervision.supervision_run(actor=None, place_path="")
    mine = Finding.objects.get(place_path__startswith=town.street.path)
    theirs = Finding.objects.get(place_path__startswith=town.other_street.path)
    return mine, theirs, a, b


# --- resolving ----------------------------------------------------------------------------------


def test_resolving_is_audited_with_the_masked_summary(two_streets, staff):
    mine, _theirs, _a, _b = two_streets
    resolved = supervision.finding_resolve(
        actor=staff.civil, finding_id=mine.id, state="explained", resolution="核实为补发差额"
    )
    assert (resolved.state, resolved.resolved_by) == ("explained", staff.civil)
    entry = AuditEntry.objects.get(object_type="assistance.finding", object_id=str(mine.id))
    assert entry.actor == staff.civil and entry.action == "update"
    assert entry.changes["state"] == ["open", "explained"]
    assert entry.changes["resolution"] == ["", "核实为补发差额"]
    assert "孙*空" in entry.object_label and "孙悟空" not in entry.object_label
    assert entry.place_path == mine.place_path


def test_a_finding_is_resolved_once(two_streets, staff):
    mine, *_ = two_streets
    supervision.finding_resolve(
        actor=staff.civil, finding_id=mine.id, state="confirmed", resolution="已停发"
    )
    with pytest.raises(Conflict):
        supervision.finding_resolve(
            actor=staff.civil2, finding_id=mine.id, state="explained", resolution="无问题"
        )


@pytest.mark.parametrize(
    ("state", "resolution", "field"),
    [
        ("open", "x", "state"),
        ("deleted", "x", "state"),
        ("confirmed", "   \u200b ", "resolution"),
        ("confirmed", "x" * 301, "resolution"),
        ("confirmed", "已核实\u0007", "resolution"),
    ],
)
def test_bad_resolutions_name_the_field(two_streets, staff, state, resolution, field):
    mine, *_ = two_streets
    with pytest.raises(ValidationFailed) as refused:
        supervision.finding_resolve(
            actor=staff.civil, finding_id=mine.id, state=state, resolution=resolution
        )
    assert field in refused.value.details
    mine.refresh_from_db()
    assert mine.state == FindingState.OPEN


def test_only_supervisors_in_whose_jurisdiction_it_lies_resolve(two_streets, staff):
    mine, theirs, *_ = two_streets
    with pytest.raises(PermissionDenied):  # sees it, may not resolve it
        supervision.finding_resolve(
            actor=staff.street, finding_id=mine.id, state="explained", resolution="x"
        )
    with pytest.raises(NotFound):  # the other street's: as if missing
        supervision.finding_resolve(
            actor=staff.street_civil, finding_id=theirs.id, state="explained", resolution="x"
        )
    supervision.finding_resolve(
        actor=staff.auditor, finding_id=theirs.id, state="explained", resolution="审计核实"
    )


def test_nobody_resolves_a_finding_about_their_own_relative(world, staff):
    _h, (head, mother) = world.household(members=2)
    world.benefit(head, persons_covered=2, amount="1000.00")
    StaffRelative.objects.create(staff=staff.civil, person=mother, relation="母亲")
    supervision.supervision_run(actor=None, place_path="")
    finding = Finding.objects.get(kind=FindingKind.STAFF_RELATIVE)
    with pytest.raises(PermissionDenied) as refused:
        supervision.finding_resolve(
            actor=staff.civil, finding_id=finding.id, state="explained", resolution="无关"
        )
    assert "another supervisor" in refused.value.message
    supervision.finding_resolve(
        actor=staff.civil2, finding_id=finding.id, state="confirmed", resolution="已调整审批人"
    )


# --- who sees what ------------------------------------------------------------------------------


def test_a_street_officer_sees_only_their_streets_findings(two_streets, staff):
    mine, theirs, *_ = two_streets
    assert list(supervision.finding_list(actor=staff.street)) == [mine]
    assert list(supervision.finding_list(actor=staff.other_street)) == [theirs]
    assert set(supervision.finding_list(actor=staff.civil)) == {mine, theirs}
    with pytest.raises(NotFound):
        supervision.finding_get(actor=staff.street, finding_id=theirs.id)
    for nobody in (staff.community, staff.resident):
        with pytest.raises(PermissionDenied):
            supervision.finding_list(actor=nobody)
        with pytest.raises(NotFound):
            supervision.finding_get(actor=nobody, finding_id=mine.id)


def test_linked_records_are_masked_and_marked_for_what_the_reader_may_open(two_streets, staff):
    mine, _theirs, a, _b = two_streets
    linked = supervision.finding_records(actor=staff.street, finding=mine)
    assert linked.persons == [
        {"id": a.id, "name": "孙*空", "status": "Active", "died_on": None, "open": True}
    ]
    assert str(linked.benefits[0]["monthly_amount"]) == "900.00"
    # The other street's officer reads the same finding's persons without a link.
    hidden = supervision.finding_records(actor=staff.other_street, finding=mine)
    assert hidden.persons[0]["open"] is False and hidden.benefits == []


# --- runs ---------------------------------------------------------------------------------------


def test_a_run_requested_from_the_page_is_queued_then_carried_out(
    world, staff, town, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    _h, (a,) = world.household()
    world.benefit(a, amount="900.00")
    with django_capture_on_commit_callbacks(execute=True):
        run = supervision.supervision_run_request(actor=staff.civil, place_path=town.district.path)
    assert run.state == "queued"
    (task,) = DBTaskResult.objects.all()
    assert task.args_kwargs["args"] == [run.pk]
    assert AuditEntry.objects.filter(object_type="assistance.supervisionrun").count() == 1
    with pytest.raises(Conflict):
        supervision.supervision_run_request(actor=staff.civil2, place_path=town.district.path)
    done = supervision.supervision_run_execute(run_id=run.pk)
    assert done.state == "done" and done.processed == done.total == 5
    assert done.totals["new"] == 1
    assert supervision.supervision_run_execute(run_id=run.pk) is None  # delivered twice


def test_a_dead_workers_run_does_not_block_the_next(world, staff, town):
    import time_machine

    run = supervision.supervision_run_request(actor=staff.civil, place_path=town.district.path)
    with time_machine.travel(dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC), tick=False):
        again = supervision.supervision_run_request(
            actor=staff.civil, place_path=town.district.path
        )
    run.refresh_from_db()
    assert run.state == "failed" and again.state == "queued"


def test_runs_are_refused_outside_the_jurisdiction_and_to_those_who_may_not(staff, town):
    with pytest.raises(ValidationFailed) as refused:
        supervision.supervision_run_request(
            actor=staff.street_civil, place_path=town.other_street.path
        )
    assert "place" in refused.value.details
    with pytest.raises(ValidationFailed):
        supervision.supervision_run_request(actor=staff.civil, place_path="999/")
    with pytest.raises(PermissionDenied):
        supervision.supervision_run_request(actor=staff.street, place_path=town.street.path)
    assert SupervisionRun.objects.count() == 0


def test_the_daily_job_runs_over_everything_as_the_system(world):
    from linli.assistance.supervision_tasks import daily_supervision

    _h, (a,) = world.household()
    world.benefit(a, amount="900.00")
    counts = daily_supervision.call()
    assert counts["amount_out_of_line"]["new"] == 1
    run = SupervisionRun.objects.get()
    assert (run.requested_by, run.place_path, run.state) == (None, "", "done")


def test_the_daily_job_is_registered():
    from linli.core.jobs import registered_jobs

    jobs = {job.name: job for job in registered_jobs()}
    (name,) = [n for n in jobs if n.endswith("daily_supervision")]
    assert jobs[name].every == dt.timedelta(days=1)


# --- staff relatives ----------------------------------------------------------------------------


def test_staff_declare_a_relative_by_id_number_and_name_anywhere(world, staff, town):
    _h, (mother,) = world.household(name="周母亲", building=town.other_building)
    declared = supervision.staff_relative_declare(
        actor=staff.community, id_number=mother.id_number.lower(), name=" 周母亲 ", relation="母亲"
    )
    assert (declared.staff, declared.person, declared.place_path) == (
        staff.community,
        mother,
        mother.place_path,
    )
    entry = AuditEntry.objects.get(object_type="assistance.staffrelative")
    assert entry.action == "create" and "周*亲" in entry.object_label
    assert list(supervision.staff_relatives_for(actor=staff.community)) == [declared]
    # The district's supervisor sees it; the street A supervisor does not (she lives in B).
    assert list(supervision.staff_relatives_for(actor=staff.civil)) == [declared]
    assert list(supervision.staff_relatives_for(actor=staff.street_civil)) == []
    with pytest.raises(Conflict):
        supervision.staff_relative_declare(
            actor=staff.community, id_number=mother.id_number, name="周母亲", relation="母亲"
        )


def test_a_wrong_name_and_an_unknown_number_get_the_same_answer(world, staff):
    _h, (person,) = world.household(name="吴某某")
    from linli.core.testing.factories import make_id_number

    answers = []
    for id_number, name in ((person.id_number, "吴某"), (make_id_number(), "吴某某")):
        with pytest.raises(ValidationFailed) as refused:
            supervision.staff_relative_declare(
                actor=staff.community, id_number=id_number, name=name, relation="父亲"
            )
        answers.append(refused.value.message)
    assert answers[0] == answers[1]
    with pytest.raises(ValidationFailed) as refused:
        supervision.staff_relative_declare(
            actor=staff.community, id_number="12345", name="吴某某", relation="父亲"
        )
    assert "id_number" in refused.value.details
    with pytest.raises(ValidationFailed) as refused:
        supervision.staff_relative_declare(
            actor=staff.community, id_number=person.id_number, name="吴某某", relation="<\x1b>"
        )
    assert "relation" in refused.value.details
    with pytest.raises(PermissionDenied):
        supervision.staff_relative_declare(
            actor=staff.resident, id_number=person.id_number, name="吴某某", relation="父亲"
        )
    assert StaffRelative.objects.count() == 0


def test_declarations_are_withdrawn_by_their_author_or_a_supervisor(world, staff):
    _h, (person,) = world.household(name="郑某某")
    declared = supervision.staff_relative_declare(
        actor=staff.community, id_number=person.id_number, name="郑某某", relation="兄弟"
    )
    with pytest.raises(NotFound):
        supervision.staff_relative_remove(actor=staff.street, relative_id=declared.id)
    supervision.staff_relative_remove(actor=staff.civil, relative_id=declared.id)
    assert not StaffRelative.objects.exists()
    entry = AuditEntry.objects.get(object_type="assistance.staffrelative", action="delete")
    assert entry.actor == staff.civil


def test_is_conflicted_for_members_and_declared_relatives(world, staff, town):
    household, (head, child) = world.household(members=2)
    other, _members = world.household()
    assert not supervision.is_conflicted(staff.street, household)
    StaffRelative.objects.create(staff=staff.street, person=child, relation="子女")
    assert supervision.is_conflicted(staff.street, household)
    assert supervision.is_conflicted(staff.street, household.id)
    assert not supervision.is_conflicted(staff.street, other)
    assert not supervision.is_conflicted(staff.civil, household)
    head.account = staff.civil
    head.save()
    assert supervision.is_conflicted(staff.civil, household)


# --- workbench ----------------------------------------------------------------------------------


def test_workbench_counts_open_findings_for_supervisors(two_streets, staff):
    mine, theirs, *_ = two_streets
    supervision.finding_resolve(
        actor=staff.civil, finding_id=theirs.id, state="explained", resolution="已核实"
    )
    (count,) = supervision.workbench_counts(staff.civil)
    assert (count.key, count.count) == ("assistance.findings", 1)
    (street_count,) = supervision.workbench_counts(staff.street_civil)
    assert street_count.count == 1
    assert supervision.workbench_counts(staff.street) == []
    listing = supervision.workbench_listing(staff.civil, "assistance.findings")
    (row,) = [listing.row(f) for f in listing.queryset]
    assert row.url.endswith(f"/supervision/findings/{mine.id}/")
    assert "孙*空" in row.detail
    assert supervision.workbench_listing(staff.street, "assistance.findings") is None
    assert supervision.workbench_listing(staff.civil, "assistance.other") is None


def test_a_street_supervisor_sees_a_cross_street_finding_not(world, staff, town):
    _h1, (a,) = world.household()
    _h2, (b,) = world.household(building=town.other_building)
    world.benefit(a)
    world.benefit(b)
    world.account(a, "6222111122223333")
    world.account(b, "6222111122223333")
    supervision.supervision_run(actor=None, place_path="")
    finding = Finding.objects.get(kind=FindingKind.SHARED_ACCOUNT)
    assert list(supervision.finding_list(actor=staff.civil)) == [finding]
    assert list(supervision.finding_list(actor=staff.street_civil)) == []
    # A street's own run sees only its recipient: no shared account, and the district's
    # finding is left as it was.
    supervision.supervision_run(actor=staff.street_civil, place_path=town.street.path)
    finding.refresh_from_db()
    assert finding.cleared_at is None and finding.place_path == town.district.path


def test_a_user_made_here_has_no_findings(town):
    nobody = make_user("newcomer", Role.CIVIL_AFFAIRS)  # no jurisdiction yet
    assert list(supervision.finding_list(actor=nobody)) == []
