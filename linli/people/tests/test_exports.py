"""Excel export of filtered lists: masked by default, full only by role, always audited."""

import io

import pytest
from django.test import override_settings
from django.urls import reverse
from openpyxl import load_workbook

from linli.core.errors import PermissionDenied, ValidationFailed
from linli.core.models import AuditAction, AuditEntry
from linli.core.roles import Role
from linli.core.testing.factories import make_user
from linli.people import exports
from linli.people.selectors import HouseholdFilter, PersonFilter


def rows_of(content) -> list[list]:
    data = content.read() if hasattr(content, "read") else b"".join(content)
    return [list(r) for r in load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True)]


def test_person_export_is_masked_scoped_and_audited(town, grid_worker, people):
    name, content = exports.persons_export(actor=grid_worker, filters=PersonFilter())
    rows = rows_of(content)
    assert name.endswith(".xlsx") and len(rows) == 3  # header + the two members in scope
    flat = str(rows)
    assert people.head.id_masked in flat and people.head.id_number not in flat
    assert "138****8000" in flat and "13800138000" not in flat
    assert people.other_head.name not in flat
    entry = AuditEntry.objects.get(action=AuditAction.EXPORT)
    assert entry.actor == grid_worker and entry.changes["rows"] == 2
    assert entry.changes["full"] is False


def test_full_export_needs_the_role_and_says_so_in_the_log(town, people):
    officer = make_user("civil", Role.CIVIL_AFFAIRS, [town.district])
    _name, content = exports.persons_export(
        actor=officer,
        filters=PersonFilter(name="张", id_ending=people.head.id_number[-4:]),
        full=True,
    )
    flat = str(rows_of(content))
    assert people.head.id_number in flat and "13800138000" in flat
    changes = AuditEntry.objects.get(action=AuditAction.EXPORT).changes
    assert changes["full"] is True
    assert changes["filters"]["id_ending"] == "****"  # searched ID digits are not logged
    worker = make_user("gw", Role.GRID_WORKER, [town.grid])
    with pytest.raises(PermissionDenied):
        exports.persons_export(actor=worker, filters=PersonFilter(), full=True)


def test_export_needs_the_export_role(town, people):
    handler = make_user("dept", Role.DEPARTMENT_HANDLER, [town.district])
    with pytest.raises(PermissionDenied):
        exports.persons_export(actor=handler, filters=PersonFilter())
    assert not AuditEntry.objects.filter(action=AuditAction.EXPORT).exists()


@override_settings(LINLI_EXPORT_MAX_ROWS=1)
def test_an_export_too_large_asks_to_narrow_the_filter(town, admin, people):
    with pytest.raises(ValidationFailed):
        exports.persons_export(actor=admin, filters=PersonFilter())
    _name, content = exports.households_export(actor=admin, filters=HouseholdFilter(number="H0001"))
    assert rows_of(content)[1][0] == "H0001"


def test_export_buttons_post_the_current_search(client, grid_worker, people):
    client.force_login(grid_worker)
    page = client.post(reverse("people:persons"), {"name": "张大", "status": "active"})
    html = page.content.decode()
    assert reverse("people:persons_export") in html and 'value="张大"' in html
    response = client.post(reverse("people:persons_export"), {"name": "张大", "status": "active"})
    rows = rows_of(response.streaming_content)
    assert [r[2] for r in rows[1:]] == [people.head.name]
    households = client.post(reverse("people:households_export"), {"status": "active"})
    assert [r[0] for r in rows_of(households.streaming_content)[1:]] == ["H0001"]
    assert client.get(reverse("people:persons_export")).status_code == 405
