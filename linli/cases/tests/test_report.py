import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from linli.cases import selectors, services
from linli.cases.models import Case, CaseEvent, CaseState, Outbox, Source
from linli.core import inserts
from linli.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from linli.core.models import AuditEntry

from .conftest import HERE, THERE


def test_a_resident_report_lands_in_the_grid_of_its_point(town, actors, report):
    case = report(description="井盖缺失，很危险", address="银座路 1 号")
    assert case.state == CaseState.REPORTED and not case.is_replay
    assert (case.grid, case.place_path, case.source) == (town.grid, town.grid.path, Source.RESIDENT)
    assert case.reporter == actors.resident
    assert case.number == f"{timezone.localtime(case.reported_at):%Y%m%d}{case.pk:08d}"
    assert case.reported_at < case.stage_warn_at < case.stage_deadline < case.due_at
    event = CaseEvent.objects.get(case=case)
    assert (event.action, event.to_state) == ("report", CaseState.REPORTED)
    entry = AuditEntry.objects.get(object_type="cases.case", object_id=str(case.pk))
    assert entry.action == "create" and entry.actor == actors.resident
    # The reporter hears that the report arrived; nobody handles it yet.
    (message,) = Outbox.objects.filter(case=case)
    assert (message.channel, message.recipient, message.kind) == (
        "wechat",
        actors.resident,
        "report",
    )


def test_a_report_is_four_inserts_and_nothing_more(actors, report):
    """The intake hot path: no lookup of a resend first, no UPDATE for the number; on
    PostgreSQL the ids come from the thread's block (taken on the first report)."""
    # Blocks left by earlier tests in this thread may run out between the two reports.
    inserts._blocks.by_table.clear()
    report()
    with CaptureQueriesContext(connection) as queries:
        report(description="第二件")
    statements = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]
    inserted = [re.match(r'INSERT INTO "(\w+)"', sql) for sql in statements]
    id_lookups = 0 if connection.vendor == "postgresql" else 1  # SQLite: max + 1 for the number
    assert len(statements) == 4 + id_lookups
    assert [m.group(1) for m in inserted if m] == [
        "cases_case",
        "cases_caseevent",
        "core_auditentry",
        "cases_outbox",
    ]


def test_a_resent_report_counts_once(actors, report):
    first = report(idempotency_key="form-123")
    again = report(idempotency_key="form-123")
    assert again.pk == first.pk and again.is_replay
    assert Case.objects.count() == 1
    # Another reporter's key is another report; the same key on a different report is refused.
    assert report(actor=actors.other_resident, idempotency_key="form-123").pk != first.pk
    with pytest.raises(Conflict, match="different report"):
        report(idempotency_key="form-123", description="另一件事")
    with pytest.raises(ValidationFailed):
        report(idempotency_key="x" * 65)
    assert Case.objects.count() == 2


def test_anonymous_reports_need_a_phone_and_a_category_that_allows_them(taxonomy, report):
    case = report(actor=None, reporter_phone="138 0013 8000", reporter_name="王先生")
    assert case.reporter is None and case.reporter_phone == "13800138000"
    (message,) = Outbox.objects.filter(case=case)
    assert (message.channel, message.phone) == ("sms", "13800138000")
    entry = AuditEntry.objects.get(object_id=str(case.pk), object_type="cases.case")
    assert entry.changes["reporter_phone"] == [None, "138****8000"]
    with pytest.raises(ValidationFailed) as missing:
        report(actor=None)
    assert "reporter_phone" in missing.value.details
    with pytest.raises(PermissionDenied, match="anonymously"):
        report(actor=None, code="MD0101", reporter_phone="13800138000")
    with pytest.raises(ValidationFailed, match="11-digit"):
        report(actor=None, reporter_phone="12345")
    # An anonymous resend (same phone, same key) counts once too.
    first = report(actor=None, reporter_phone="13900139000", idempotency_key="k1")
    assert report(actor=None, reporter_phone="13900139000", idempotency_key="k1").pk == first.pk


def test_hotline_staff_file_for_the_caller(actors, report):
    case = report(
        actor=actors.operator,
        source="hotline",
        reporter_name="李女士",
        reporter_phone="0546-8221234",
    )
    assert (case.reporter, case.entered_by, case.source) == (None, actors.operator, "hotline")
    assert Outbox.objects.get(case=case).channel == "sms"  # the caller, not the operator
    with pytest.raises(ValidationFailed, match="caller"):
        report(actor=actors.operator, source="hotline")
    with pytest.raises(PermissionDenied):
        report(source="hotline", reporter_phone="13800138000")  # a resident
    with pytest.raises(PermissionDenied):
        report(actor=actors.cgj)  # department handlers do not file reports
    with pytest.raises(ValidationFailed, match="Unknown source"):
        report(source="carrier pigeon")


def test_staff_may_name_a_grid_of_their_jurisdiction_instead_of_a_point(town, actors, report):
    case = report(actor=actors.grid, point=None, grid_id=town.grid.pk, address="银座路")
    assert case.grid == town.grid and case.lat is None
    with pytest.raises(NotFound):
        report(actor=actors.grid, point=None, grid_id=town.other_grid.pk)
    with pytest.raises(ValidationFailed, match="pin"):
        report(point=None, grid_id=town.grid.pk)  # residents give a point


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"code": None}, "category_id"),
        ({"point": (36.0, 117.0)}, "location"),  # outside every grid
        ({"point": None}, "location"),
        ({"point": ("abc", 1)}, "location"),
        ({"point": (200, 118)}, "location"),
        ({"description": "x" * 5000}, "description"),
        ({"description": "   "}, "description"),
        ({"address": "路" * 201}, "address"),
    ],
)
def test_bad_reports_are_refused_with_the_field_to_fix(taxonomy, report, changes, field):
    if "code" in changes:
        with pytest.raises(ValidationFailed) as refused:
            services.case_report(
                actor=None, category_id=taxonomy.cat["SJ01"].pk, description="x",
                reporter_phone="13800138000", lat=HERE[0], lng=HERE[1],
            )  # fmt: skip
        assert field in refused.value.details
        with pytest.raises(ValidationFailed):
            services.case_report(actor=None, category_id="nonsense", description="x")
    else:
        with pytest.raises(ValidationFailed) as refused:
            report(**changes)
        assert field in refused.value.details
    assert not Case.objects.exists()


def test_markup_is_kept_as_text_and_nul_characters_are_dropped(report):
    case = report(description="<script>alert(1)</script>\x00 井盖")
    case.refresh_from_db()
    assert case.description == "<script>alert(1)</script> 井盖"


def test_duplicates_are_offered_then_merged(actors, report, settings):
    settings.LINLI_DUPLICATE_METRES = 50
    first = report()
    near = report(point=(HERE[0] + 0.0002, HERE[1]), actor=actors.other_resident)  # ~22 m
    far = report(point=(HERE[0] + 0.001, HERE[1]))  # ~111 m
    other_kind = report(code="SJ0201")
    old = report()
    Case.objects.filter(pk=old.pk).update(reported_at=timezone.now() - dt.timedelta(hours=80))
    found = selectors.case_duplicate_candidates(actor=actors.grid, case_id=near.pk)
    assert [c.pk for c in found] == [first.pk]
    assert 15 < found[0].distance_m < 30
    assert far.pk not in [
        c.pk for c in selectors.case_duplicate_candidates(actor=actors.grid, case_id=first.pk)
    ]
    assert other_kind.pk not in [c.pk for c in found]
    # The neighbour grid worker cannot see (or merge) these.
    with pytest.raises(NotFound):
        selectors.case_duplicate_candidates(actor=actors.neighbour, case_id=near.pk)
    with pytest.raises(NotFound):
        services.case_merge(actor=actors.neighbour, case_id=near.pk, into_case_id=first.pk)

    merged = services.case_merge(actor=actors.grid, case_id=near.pk, into_case_id=first.pk)
    assert (merged.state, merged.close_reason, merged.merged_into) == (
        CaseState.CLOSED_OTHER, "duplicate", first,
    )  # fmt: skip
    assert CaseEvent.objects.filter(case=first, action="merged_in").exists()
    assert Outbox.objects.filter(case=merged, recipient=actors.other_resident).count() == 2
    with pytest.raises(ValidationFailed, match="same category"):
        services.case_merge(actor=actors.grid, case_id=first.pk, into_case_id=other_kind.pk)
    with pytest.raises(ValidationFailed, match="itself"):
        services.case_merge(actor=actors.grid, case_id=first.pk, into_case_id=first.pk)
    with pytest.raises(ValidationFailed, match="open case"):
        services.case_merge(actor=actors.grid, case_id=far.pk, into_case_id=merged.pk)
    with pytest.raises(NotFound):
        services.case_merge(actor=actors.grid, case_id="abc", into_case_id=first.pk)
    with pytest.raises(PermissionDenied):
        services.case_merge(actor=actors.resident, case_id=far.pk, into_case_id=first.pk)


def test_a_report_in_the_other_grid_is_seen_only_there(town, actors, report):
    case = report(point=THERE)
    assert case.grid == town.other_grid
    assert Case.objects.restrict(actors.neighbour).filter(pk=case.pk).exists()
    assert not Case.objects.restrict(actors.grid).filter(pk=case.pk).exists()
    assert Case.objects.restrict(actors.street).filter(pk=case.pk).count() == 0
    assert Case.objects.restrict(actors.operator).filter(pk=case.pk).exists()
    assert Case.objects.restrict(actors.resident).filter(pk=case.pk).exists()
    assert not Case.objects.restrict(actors.other_resident).exists()
    assert not Case.objects.restrict(actors.cgj).exists()  # nothing dispatched to CGJ yet


def test_a_category_switched_off_is_refused_at_once(taxonomy, report):
    report(code="SJ0101")  # the categories are cached now
    category = taxonomy.cat["SJ0101"]
    category.is_active = False
    category.save()
    with pytest.raises(ValidationFailed, match="Choose a category"):
        report(code="SJ0101")


def test_a_category_added_by_another_process_is_found(taxonomy, report):
    from linli.cases.models import Category

    report(code="SJ0101")  # the categories are cached now
    template = taxonomy.cat["SJ0101"]
    # Written without save(), as another process's write looks to this one.
    Category.objects.bulk_create(
        [
            Category(
                code="SJ0199",
                name="新小类",
                kind=template.kind,
                parent=template.parent,
                register_hours=1,
                dispatch_hours=1,
                handle_hours=1,
                verify_hours=1,
                anonymous_allowed=True,
            )
        ]
    )
    new = Category.objects.get(code="SJ0199")
    assert (
        services.case_report(
            actor=None,
            category_code="SJ0199",
            description="x",
            lat=HERE[0],
            lng=HERE[1],
            reporter_phone="13800138000",
        ).category
        == new
    )
