"""Home visits: alerts become visits for the grid worker, due by severity on the calendar;
a visit record ends in one outcome (no risk, a referral to assistance or to a case or another
service, or nobody found — escalated to the community after the last try); resent records
land once, records for closed alerts are refused, and nobody outside the places records one."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import ExifTags, Image

from linli.assistance.models import Application
from linli.cases.models import Case
from linli.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from linli.core.models import AuditEntry, CalendarDay
from linli.core.roles import Role
from linli.core.testing.factories import make_user
from linli.core.workbench import Kind
from linli.monitoring import alerts as alert_services
from linli.monitoring import visits
from linli.monitoring.models import Alert, HomeVisit, Severity, VisitRecord

from .fixtures_visits import *  # noqa: F403  (the fixtures)
from .fixtures_visits import CHINA, NOW, make_alert, make_household, make_visit

pytestmark = pytest.mark.usefixtures("clock")


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=CHINA)


def record(actor, visit, key="key-0000001", outcome="no_risk", **more):
    fields = {
        "visited_at": NOW - dt.timedelta(hours=1),
        "met": "户主王先生",
        "findings": "家中收入稳定，无需救助",
        **more,
    }
    return visits.visit_record(
        actor=actor, visit_id=visit.pk, idempotency_key=key, outcome=outcome, **fields
    )


# --- creating visits --------------------------------------------------------------------------


def test_deadlines_by_severity_on_the_working_day_calendar(homes, rules, staff):
    alerts = {s: make_alert(make_household(homes.mine.building), r) for s, r in rules.items()}
    result = visits.visits_create_for_open_alerts()
    assert result["created"] == 4
    due = {s: HomeVisit.objects.get(alert=a).due_at for s, a in alerts.items()}
    # From Wednesday 4 March: 10, 5 and 2 working days, at the end of that day's hours.
    assert due[Severity.LOW] == at(18, 17)
    assert due[Severity.MEDIUM] == at(11, 17)
    assert due[Severity.HIGH] == at(6, 17)
    # A severe alert by the clock: 24 hours.
    assert due[Severity.SEVERE] == at(5, 10)
    assert set(Alert.objects.values_list("state", flat=True)) == {"visiting"}


def test_a_holiday_moves_the_deadline_but_not_a_severe_one(homes, rules, staff):
    CalendarDay.objects.create(date=dt.date(2026, 3, 5), is_workday=False, name="holiday")
    high = make_alert(homes.mine, rules[Severity.HIGH])
    severe = make_alert(homes.second, rules[Severity.SEVERE])
    visits.visits_create_for_open_alerts()
    assert HomeVisit.objects.get(alert=high).due_at == at(9, 17)  # Fri 6, Mon 9
    assert HomeVisit.objects.get(alert=severe).due_at == at(5, 10)


def test_deadlines_are_data(homes, rules, staff, settings):
    settings.LINLI_MONITORING_VISIT_DEADLINES = {"3": {"clock_hours": 4}}
    alert = make_alert(homes.mine, rules[Severity.HIGH])
    visits.visits_create_for_open_alerts()
    assert HomeVisit.objects.get(alert=alert).due_at == NOW + dt.timedelta(hours=4)


def test_assigned_to_the_grid_worker_of_the_households_grid(town, homes, rules, staff):
    mine = make_alert(homes.mine, rules[Severity.HIGH])
    other = make_alert(homes.other, rules[Severity.HIGH])
    make_user("later_worker", Role.GRID_WORKER, [town.grid])  # a second one: the first by id
    visits.visits_create_for_open_alerts()
    assert HomeVisit.objects.get(alert=mine).assignee == staff.grid
    assert HomeVisit.objects.get(alert=mine).grid == town.grid
    assert HomeVisit.objects.get(alert=other).assignee == staff.neighbour


def test_no_grid_worker_leaves_it_unassigned_until_one_is_there(town, homes, rules, staff):
    staff.neighbour.is_active = False
    staff.neighbour.save()
    alert = make_alert(homes.other, rules[Severity.HIGH])
    result = visits.visits_create_for_open_alerts()
    assert result["unassigned"] == 1
    visit = HomeVisit.objects.get(alert=alert)
    assert visit.assignee is None
    # The community sees it; no grid worker does.
    community = make_user("other_community", Role.COMMUNITY_WORKER, [town.other_community])
    assert list(visits.visit_list(actor=community)) == [visit]
    staff.neighbour.is_active = True
    staff.neighbour.save()
    assert visits.visits_create_for_open_alerts() == {
        "created": 0,
        "unassigned": 0,
        "without_grid": 0,
        "assigned": 1,
    }
    visit.refresh_from_db()
    assert visit.assignee == staff.neighbour


def test_creating_is_idempotent_and_set_based(homes, rules, staff, django_assert_max_num_queries):
    for _ in range(30):
        make_alert(make_household(homes.mine.building), rules[Severity.MEDIUM])
    closed = make_alert(homes.mine, rules[Severity.LOW], state="resolved")
    with django_assert_max_num_queries(16):
        assert visits.visits_create_for_open_alerts()["created"] == 30
    assert visits.visits_create_for_open_alerts()["created"] == 0
    assert HomeVisit.objects.count() == 30
    assert not HomeVisit.objects.filter(alert=closed).exists()
    assert AuditEntry.objects.filter(object_type="monitoring.homevisit").count() == 30


def test_an_escalated_visit_is_not_replaced_by_a_new_one(town, homes, rules, staff):
    alert = make_alert(homes.mine, rules[Severity.HIGH], state="visiting")
    make_visit(alert, town.grid, staff.grid, state="escalated")
    assert visits.visits_create_for_open_alerts()["created"] == 0


def test_overdue_visits_are_marked_and_unmarked(town, homes, rules, staff, clock):
    visit = make_visit(make_alert(homes.mine, rules[Severity.HIGH]), town.grid, staff.grid)
    assert visits.mark_overdue()["marked"] == 0
    clock.move_to(NOW + dt.timedelta(days=3))
    assert visits.mark_overdue() == {"marked": 1, "cleared": 0, "overdue": 1}
    assert visits.mark_overdue()["marked"] == 0
    visit.refresh_from_db()
    assert visit.overdue_since == visit.due_at
    assert visits.warning(visit) == 2


# --- outcomes ---------------------------------------------------------------------------------


@pytest.fixture
def visit(town, homes, rules, staff):
    alert = make_alert(homes.mine, rules[Severity.HIGH])
    visits.visits_create_for_open_alerts()
    return HomeVisit.objects.get(alert=alert)


def test_no_risk_resolves_the_alert_with_the_findings(visit, staff):
    stored = record(staff.grid, visit)
    visit.refresh_from_db()
    alert = visit.alert
    assert (visit.state, visit.outcome, visit.attempts) == ("done", "no_risk", 1)
    assert alert.state == "resolved" and "家中收入稳定" in alert.resolution
    assert stored.visitor == staff.grid and stored.referral == {}
    assert AuditEntry.objects.filter(object_type="monitoring.visitrecord").count() == 1
    assert AuditEntry.objects.filter(
        object_type="monitoring.alert", object_id=str(alert.pk), action="update"
    ).exists()


def test_referral_to_assistance_opens_a_prefilled_application(visit, staff, policy):
    stored = record(staff.grid, visit, outcome="refer_assistance", findings="收入很低，申请低保")
    application = Application.objects.get(pk=stored.referral["application"])
    assert application.household_id == visit.household_id
    assert application.program == "minimum_living"  # the rule's program
    assert application.channel == "referral"
    assert application.referral_source == f"monitoring alert {visit.alert_id}"
    evidence = application.referral_evidence
    assert evidence["explanation"] == visit.alert.explanation
    assert evidence["snapshot"] == {"per_capita": "500.00"}
    assert evidence["findings"] == "收入很低，申请低保"
    visit.alert.refresh_from_db()
    assert visit.alert.state == "referred"


def test_referral_to_assistance_joins_an_application_already_open(
    town, homes, rules, staff, policy
):
    first = make_visit(make_alert(homes.mine, rules[Severity.HIGH]), town.grid, staff.grid)
    second = make_visit(make_alert(homes.mine, rules[Severity.LOW]), town.grid, staff.grid)
    a = record(staff.grid, first, key="key-first-1", outcome="refer_assistance", program="")
    b = record(
        staff.grid, second, key="key-second-1", outcome="refer_assistance", program="minimum_living"
    )
    assert b.referral["application"] == a.referral["application"]
    assert b.referral["already_open"] is True
    assert Application.objects.count() == 1


def test_referral_to_a_service_opens_a_case_in_the_households_grid(visit, staff, taxonomy, town):
    stored = record(
        staff.grid, visit, outcome="refer_service", category_code="MS0104", findings="需要助残服务"
    )
    case = Case.objects.get(pk=stored.referral["case"])
    assert case.grid == town.grid and case.category.code == "MS0104"
    assert visit.alert.explanation in case.description
    visit.alert.refresh_from_db()
    assert visit.alert.state == "referred" and case.number in visit.alert.resolution


def test_referral_to_another_service_is_noted(visit, staff):
    stored = record(staff.grid, visit, outcome="refer_service", service="区残联康复服务")
    assert stored.referral == {"service": "区残联康复服务"}
    visit.alert.refresh_from_db()
    assert visit.alert.state == "referred"


def test_a_service_referral_names_a_category_or_a_service(visit, staff):
    with pytest.raises(ValidationFailed) as exc:
        record(staff.grid, visit, outcome="refer_service")
    assert "category_id" in exc.value.details
    assert not VisitRecord.objects.exists()


def test_unreachable_reschedules_then_escalates_to_the_community(visit, staff, clock):
    for n in range(1, 3):
        record(staff.grid, visit, key=f"try-000000{n}", outcome="unreachable", met="")
        visit.refresh_from_db()
        assert (visit.state, visit.attempts) == ("pending", n)
        # HIGH: one working day later, at the end of the day.
        assert visit.due_at == at(5, 17)
    assert list(visits.visit_list(actor=staff.grid)) == [visit]
    record(staff.grid, visit, key="try-0000003", outcome="unreachable", met="")
    visit.refresh_from_db()
    assert (visit.state, visit.attempts, visit.outcome) == ("escalated", 3, "unreachable")
    assert visit.alert.state == "visiting"
    # Off the grid worker's list, in the community's queue and among unvisited alerts.
    assert list(visits.visit_list(actor=staff.grid)) == []
    assert list(visits.visit_list(actor=staff.community)) == [visit]
    assert list(visits.visit_list(actor=staff.community, show="escalated")) == [visit]
    from linli.monitoring import keys

    assert list(keys.alerts_without_visit(actor=staff.community)) == [visit.alert]
    # The community may still visit and close it.
    record(staff.community, visit, key="community-1", outcome="no_risk")
    visit.refresh_from_db()
    assert visit.state == "done" and visit.attempts == 4


def test_the_number_of_tries_is_a_setting(visit, staff, settings):
    settings.LINLI_MONITORING_VISIT_TRIES = 1
    record(staff.grid, visit, outcome="unreachable", met="")
    visit.refresh_from_db()
    assert visit.state == "escalated"


# --- resent, closed, refused ------------------------------------------------------------------


def test_a_resent_record_returns_the_first_and_changes_nothing(visit, staff):
    first = record(staff.grid, visit, outcome="unreachable", met="")
    again = record(staff.grid, visit, outcome="unreachable", met="")
    assert again.pk == first.pk and again.resent
    visit.refresh_from_db()
    assert visit.attempts == 1 and VisitRecord.objects.count() == 1


def test_a_resend_after_the_visit_closed_still_gets_its_record(visit, staff):
    first = record(staff.grid, visit)
    assert record(staff.grid, visit).pk == first.pk


def test_the_same_key_for_another_visit_is_refused(town, visit, homes, rules, staff):
    record(staff.grid, visit)
    other = make_visit(make_alert(homes.second, rules[Severity.LOW]), town.grid, staff.grid)
    with pytest.raises(Conflict, match="another visit"):
        record(staff.grid, other)


def test_a_record_for_a_closed_alert_is_refused(visit, staff):
    alert_services.alert_dismiss(actor=staff.community, alert_id=visit.alert_id, reason="误报")
    with pytest.raises(Conflict, match="already closed") as exc:
        record(staff.grid, visit)
    assert exc.value.code == "alert_closed"
    assert not VisitRecord.objects.exists()


def test_a_record_for_a_visit_done_is_refused(visit, staff):
    record(staff.grid, visit, outcome="refer_service", service="养老服务")
    with pytest.raises(Conflict, match="already closed"):
        record(staff.grid, visit, key="key-0000002")
    assert VisitRecord.objects.count() == 1


@pytest.mark.parametrize(
    ("who", "error"),
    [("neighbour", NotFound), ("auditor", PermissionDenied), ("resident", PermissionDenied)],
)
def test_outside_the_places_or_without_the_role(visit, staff, who, error):
    with pytest.raises(error):
        record(getattr(staff, who), visit)
    assert not VisitRecord.objects.exists()


def test_the_street_and_community_may_record_the_grid_worker_s_visit(visit, staff):
    assert record(staff.street, visit).visitor == staff.street


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"lat": 91, "lng": 118}, "lat"),
        ({"lat": 37, "lng": -181}, "lng"),
        ({"lat": 37}, "lng"),
        ({"lat": "nan", "lng": 118}, "lat"),
        ({"visited_at": NOW + dt.timedelta(days=1)}, "visited_at"),
        ({"visited_at": NOW - dt.timedelta(days=30)}, "visited_at"),
        ({"visited_at": "yesterday"}, "visited_at"),
        ({"findings": ""}, "findings"),
        ({"met": ""}, "met"),
        ({"findings": "x" * 5000}, "findings"),
        ({"findings": "bad\x00byte"}, "findings"),
        ({"outcome": "maybe"}, "outcome"),
        ({"key": "short"}, "idempotency_key"),
        ({"category_id": 3}, "category_id"),  # not a field of no_risk
    ],
)
def test_bad_input_names_the_field(visit, staff, fields, field):
    args = {"key": "key-0000001", "outcome": "no_risk", **fields}
    with pytest.raises(ValidationFailed) as exc:
        record(staff.grid, visit, **args)
    assert field in exc.value.details
    assert not VisitRecord.objects.exists()


def test_a_position_is_kept(visit, staff):
    stored = record(staff.grid, visit, lat="37.005", lng=118.005)
    assert (stored.lat, stored.lng) == (37.005, 118.005)


def _photo() -> SimpleUploadedFile:
    exif = Image.Exif()
    exif[ExifTags.Base.Model] = "Phone"
    exif[ExifTags.Base.GPSInfo] = {1: "N", 2: (37.0, 0.0, 18.0), 3: "E", 4: (118.0, 0.0, 18.0)}
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "red").save(out, "JPEG", exif=exif)
    return SimpleUploadedFile("p.jpg", out.getvalue())


def test_photos_are_kept_without_their_exif(visit, staff):
    stored = record(staff.grid, visit, photos=[_photo(), _photo()])
    assert len(stored.photos) == 2
    with default_storage.open(stored.photos[0]["name"], "rb") as f, Image.open(f) as image:
        assert not image.getexif()
    assert visits.visit_photo(
        actor=staff.community, visit_id=visit.pk, record_id=stored.pk, number=2
    )
    with pytest.raises(NotFound):
        visits.visit_photo(actor=staff.neighbour, visit_id=visit.pk, record_id=stored.pk, number=1)


def test_a_file_that_is_not_a_photo_stores_nothing(visit, staff, media):
    bad = SimpleUploadedFile("x.jpg", b"<script>")
    with pytest.raises(ValidationFailed) as exc:
        record(staff.grid, visit, photos=[_photo(), bad])
    assert "photos" in exc.value.details
    assert not VisitRecord.objects.exists()
    assert not list(media.rglob("*.jpg"))


# --- lists and the workbench ------------------------------------------------------------------


def test_lists_and_workbench_counts(town, homes, rules, staff, clock):
    late = make_visit(
        make_alert(homes.mine, rules[Severity.HIGH]),
        town.grid,
        staff.grid,
        due_at=NOW - dt.timedelta(hours=1),
    )
    soon = make_visit(
        make_alert(homes.second, rules[Severity.HIGH]),
        town.grid,
        staff.grid,
        due_at=NOW + dt.timedelta(hours=5),
    )
    later = make_visit(
        make_alert(homes.mine, rules[Severity.LOW]),
        town.grid,
        staff.grid,
        due_at=NOW + dt.timedelta(days=5),
    )
    make_visit(make_alert(homes.other, rules[Severity.HIGH]), town.other_grid, staff.neighbour)
    assert list(visits.visit_list(actor=staff.grid)) == [late, soon, later]
    assert [visits.warning(v) for v in (late, soon, later)] == [2, 1, 0]
    assert list(visits.visit_list(actor=staff.grid, show="overdue")) == [late]
    counts = {c.key: (c.count, c.kind) for c in visits.workbench_counts(staff.grid)}
    assert counts == {
        visits.WAITING_KEY: (3, Kind.WAITING),
        visits.OVERDUE_KEY: (1, Kind.OVERDUE),
    }
    community = {c.key: c.count for c in visits.workbench_counts(staff.community)}
    assert community[visits.ESCALATED_KEY] == 0 and community[visits.WAITING_KEY] == 3
    listing = visits.workbench_listing(staff.grid, visits.OVERDUE_KEY)
    row = listing.row(listing.queryset.first())
    assert row.warning == 2 and f"/visits/{late.pk}/" in row.url
    assert visits.workbench_listing(staff.grid, visits.ESCALATED_KEY) is None
    assert visits.workbench_counts(staff.resident) == []
    # Through the monitoring provider too.
    from linli.core.workbench import provider_of

    keys_ = {c.key for c in provider_of("monitoring.x").todos(staff.grid)}
    assert visits.WAITING_KEY in keys_
