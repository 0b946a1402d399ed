"""The workbench (工作台): to-dos by kind from each capability's provider, what the person
reported, their area's figures; every count opens its list, inside the jurisdiction."""

import ast
import datetime as dt
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from linli.cases import services
from linli.cases.models import Case
from linli.cases.sweep import run_sweep
from linli.core import workbench
from linli.core.roles import Role
from linli.core.testing.factories import make_user

HERE = {"lat": 37.005, "lng": 118.005}  # inside town.grid
THERE = {"lat": 37.005, "lng": 118.015}  # inside town.other_grid
EN = {"Accept-Language": "en"}


def _list_url(key: str) -> str:
    return f"{reverse('workbench_list')}?list={key}"


def _count_link(html: str, key: str, count: int) -> bool:
    return f'href="{_list_url(key)}"><b>{count}</b>' in html


@pytest.fixture
def resident(town):
    return make_user("resident", Role.RESIDENT)


def _report(taxonomy, actor, point=HERE, code="SJ0101"):
    return services.case_report(
        actor=actor, category_id=taxonomy[code].pk, description="路边有一堆垃圾", **point
    )


def test_to_dos_count_what_waits_and_open_their_lists(
    client, town, taxonomy, grid_worker, resident, frozen
):
    mine = _report(taxonomy, resident)
    theirs = _report(taxonomy, resident, point=THERE)
    client.force_login(grid_worker)
    html = client.get(reverse("home"), headers=EN).content.decode()
    assert _count_link(html, "cases.waiting", 1) and _count_link(html, "cases.overdue", 0)
    listed = client.get(_list_url("cases.waiting"), headers=EN).content.decode()
    assert mine.number in listed and theirs.number not in listed
    assert reverse("cases:detail", args=[mine.pk]) in listed

    # Near the registration deadline (within its last fifth) the sweep warns: due soon.
    frozen.shift(dt.timedelta(minutes=50))
    run_sweep()
    html = client.get(reverse("home"), headers=EN).content.decode()
    assert _count_link(html, "cases.due_soon", 1) and _count_link(html, "cases.waiting", 1)
    listed = client.get(_list_url("cases.due_soon"), headers=EN).content.decode()
    assert mine.number in listed and 'class="tag warn-1"' in listed

    # Past it the case turns red and moves up to the community, overdue there.
    frozen.shift(dt.timedelta(days=3))
    run_sweep()
    client.force_login(grid_worker)  # the staff session has expired meanwhile
    html = client.get(reverse("home"), headers=EN).content.decode()
    assert _count_link(html, "cases.waiting", 0) and _count_link(html, "cases.overdue", 0)
    client.force_login(make_user("community", Role.COMMUNITY_WORKER, [town.community]))
    html = client.get(reverse("home"), headers=EN).content.decode()
    assert _count_link(html, "cases.overdue", 1) and _count_link(html, "cases.waiting", 1)
    listed = client.get(_list_url("cases.overdue"), headers=EN).content.decode()
    assert mine.number in listed and 'class="tag warn-2"' in listed


def test_a_list_nobody_offers_this_person_is_not_found(client, taxonomy, grid_worker, resident):
    client.force_login(grid_worker)
    assert client.get(_list_url("nothing.here")).status_code == 404
    assert client.get(reverse("workbench_list")).status_code == 404
    client.force_login(resident)
    assert client.get(_list_url("cases.waiting")).status_code == 404
    assert client.get(_list_url("cases.reported")).status_code == 200


def test_supervision_passes_up_and_presses_the_handler(
    client, town, taxonomy, grid_worker, resident, frozen
):
    """督办: a case in a department's hands past its deadline is moved up to the community by the
    sweep; the community worker supervises it, the handler sees it pressed, the grid worker no
    longer holds it."""
    community = make_user("community", Role.COMMUNITY_WORKER, [town.community])
    handler = make_user("cgj1", Role.DEPARTMENT_HANDLER)
    case = _report(taxonomy, resident)
    handler.departments.set([case.category.department])
    services.case_register(actor=grid_worker, case_id=case.pk)
    services.case_dispatch(actor=grid_worker, case_id=case.pk)
    services.case_accept(actor=handler, case_id=case.pk)
    for person in (community, handler, grid_worker):
        client.force_login(person)
        assert _count_link(client.get(reverse("home")).content.decode(), "cases.supervised", 0)

    frozen.shift(dt.timedelta(days=10))
    run_sweep()
    case.refresh_from_db()
    assert case.tier == 4 and case.escalation_count == 1
    for person, count in ((community, 1), (handler, 1), (grid_worker, 0)):
        client.force_login(person)
        html = client.get(reverse("home")).content.decode()
        assert _count_link(html, "cases.supervised", count), person.username
        listed = client.get(_list_url("cases.supervised")).content.decode()
        assert (case.number in listed) == bool(count)


def test_residents_home_shows_their_reports_with_state_and_household(
    client, town, taxonomy, people, resident
):
    people.head.account = resident
    people.head.save()
    case = _report(taxonomy, resident)
    other = _report(taxonomy, make_user("resident2", Role.RESIDENT))
    client.force_login(resident)
    html = client.get(reverse("home"), headers=EN).content.decode()
    assert case.number in html and "Reported" in html and other.number not in html
    assert people.child.name in html and people.child.id_masked in html
    assert people.child.id_number not in html and people.other_head.name not in html
    assert reverse("cases:report") in html


def test_staff_see_what_they_reported(client, taxonomy, grid_worker):
    case = _report(taxonomy, grid_worker)
    client.force_login(grid_worker)
    html = client.get(reverse("home"), headers=EN).content.decode()
    assert _count_link(html, "cases.reported", 1) and case.number in html
    assert case.number in client.get(_list_url("cases.reported")).content.decode()


def test_area_figures_count_the_jurisdiction_and_link_to_the_lists(
    client, town, taxonomy, people, grid_worker, resident
):
    _report(taxonomy, resident)
    client.force_login(grid_worker)
    html = client.get(reverse("home"), headers=EN).content.decode()
    place = f"?place_id={town.grid.id}"
    assert f'href="{reverse("people:households")}{place}"><b>1</b>' in html
    # Two residents, one of them born in 1950; the neighbour's household is not counted.
    assert f'href="{reverse("people:persons")}{place}"><b>2</b>' in html
    assert '<div class="stat"><b>1</b>' in html  # aged 60+, not a list of its own
    assert f'href="{reverse("cases:queue")}?queue=open"><b>1</b>' in html
    assert people.other_household.number not in html


@pytest.mark.parametrize(
    ("role", "statistics", "case_map"),
    [
        (Role.COMMAND_OPERATOR, True, True),
        (Role.STREET_OFFICER, True, True),
        (Role.GRID_WORKER, False, True),
        (Role.DEPARTMENT_HANDLER, False, False),
        (Role.CIVIL_AFFAIRS, False, False),
        (Role.RESIDENT, False, False),
    ],
)
def test_command_centre_pages_are_in_the_menus_of_the_roles_that_use_them(
    client, town, role, statistics, case_map
):
    client.force_login(make_user("someone", role, [town.district]))
    html = client.get(reverse("home")).content.decode()
    nav = html[html.index('<nav class="main"') : html.index("</nav>")]
    assert (reverse("cases:statistics") in nav) is statistics
    assert (reverse("cases:map") in nav) is case_map
    if case_map:
        page = client.get(reverse("cases:map")).content.decode()
        nav = page[page.index('<nav class="main"') : page.index("</nav>")]
        assert f'href="{reverse("cases:map")}" aria-current="page"' in nav
        assert f'href="{reverse("cases:queue")}" aria-current' not in nav


class _Visits(workbench.Provider):
    """A later capability's provider, as eldercare would register one."""

    name = "visits"

    def todos(self, actor):
        return [workbench.Count("visits.due", "Home visits due", 3, workbench.Kind.DUE_SOON)]

    def listing(self, actor, key):
        if key != "visits.due":
            return None
        return workbench.Listing(
            label="Home visits due",
            queryset=Case.objects.none(),
            row=lambda item: workbench.Row(title=str(item), detail="", url="/"),
        )


def test_a_later_capability_plugs_in_by_registering_a_provider(client, grid_worker, monkeypatch):
    monkeypatch.setattr(workbench, "_providers", dict(workbench._providers))
    workbench.register(_Visits())
    client.force_login(grid_worker)
    assert _count_link(client.get(reverse("home")).content.decode(), "visits.due", 3)
    listed = client.get(_list_url("visits.due"))
    assert listed.status_code == 200 and "Home visits due" in listed.content.decode()
    with pytest.raises(ValueError):
        workbench.register(type("Bad", (workbench.Provider,), {"name": "a.b"})())


def test_core_imports_no_capability():
    """The base stays at the bottom: capabilities plug into core, never the other way."""
    capabilities = {
        app.removeprefix("linli.") for app in settings.INSTALLED_APPS if app.startswith("linli.")
    } - {"core"}
    core = Path(settings.BASE_DIR) / "core"
    offenders = []
    for source in core.rglob("*.py"):
        if {"tests", "testing"} & set(source.relative_to(core).parts):
            continue  # test builders make places; they are not the running system
        for node in ast.walk(ast.parse(source.read_text())):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            for name in names:
                parts = name.split(".")
                if parts[0] == "linli" and len(parts) > 1 and parts[1] in capabilities:
                    offenders.append(f"{source.relative_to(core)} imports {name}")
    assert not offenders, offenders
