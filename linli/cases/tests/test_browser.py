"""In a real browser at phone width, a case goes round the whole loop through its pages: a
resident reports it with a pin on the map, the grid worker registers and dispatches it, the
department takes it on and reports it handled, the grid worker verifies and closes it, and the
resident rates it. Then a report without a place is refused next to the map."""

import pytest
from playwright.sync_api import expect

from linli.cases.models import Case, CaseEvent, CaseState, Outbox
from linli.core.models import AuditEntry
from linli.core.testing.browser import chromium_page, log_in, log_out

pytestmark = pytest.mark.browser

PASSWORD = "round-the-loop-2026"
PIN_ON_THE_MAP = "请说明问题位置：在地图上标注。"


def with_password(*users):
    for user in users:
        user.set_password(PASSWORD)
        user.save()


def watch(page) -> list:
    """Every response of HTTP 400 or more the page receives, by address."""
    failed = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return failed


def fits(page):
    """No horizontal scrolling at 360 px."""
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, page.url


def open_from_queue(page, base, query, number):
    page.goto(f"{base}/cases/{query}")
    fits(page)
    page.click(f"a:text-is('{number}')")
    expect(page.locator("h1")).to_contain_text(number)
    fits(page)


def act(page, action, state, **fields):
    """Open the action's panel, fill its fields, send it; the page reloads with the new state."""
    form = page.locator(f"form:has(input[name=action][value={action}])")
    if not form.is_visible():  # only the first action's panel starts open
        page.locator("details", has=form).locator("summary").click()
    for name, value in fields.items():
        field = form.locator(f"[name='{action}-{name}']")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    form.locator("button[type=submit]").click()
    expect(page.locator("h1 .tag").first).to_have_text(state)
    fits(page)


def place_pin_in_first_grid(page):
    """Tap the middle of the first grid drawn on the map (grids come ordered by code)."""
    box = page.locator("#map path.leaflet-interactive").first.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page.locator("#pin")).not_to_be_empty()


@pytest.mark.django_db(transaction=True)
def test_the_closed_loop_through_the_pages_at_360px(live_server, town, taxonomy, actors):
    with_password(actors.resident, actors.grid, actors.cgj)
    base = live_server.url
    category = taxonomy.cat["SJ0101"]  # exposed rubbish, handled by the CGJ

    with chromium_page() as page:
        failed = watch(page)

        # 1. The resident reports, placing the pin inside his grid on the map.
        log_in(page, base + "/cases/report/", actors.resident, PASSWORD)
        fits(page)
        page.select_option("#id_category", str(category.pk))
        page.fill("#id_description", "小区门口有一堆垃圾")
        place_pin_in_first_grid(page)
        lat, lng = float(page.input_value("#id_lat")), float(page.input_value("#id_lng"))
        assert 37.00 < lat < 37.01 and 118.00 < lng < 118.01, (lat, lng)
        page.click("button:text-is('提交上报')")
        expect(page.locator("h1 .tag").first).to_have_text("已上报")
        case = Case.objects.get()
        expect(page.locator("h1")).to_contain_text(case.number)
        assert case.grid == town.grid and case.reporter == actors.resident
        fits(page)
        log_out(page)

        # 2. The grid worker finds it in the open queue, registers and dispatches it.
        log_in(page, base + "/cases/", actors.grid, PASSWORD)
        open_from_queue(page, base, "?queue=open&state=reported", case.number)
        act(page, "register", "已立案")
        act(page, "dispatch", "已派遣")  # empty department: the category's (CGJ)
        log_out(page)

        # 3. The department's handler takes it on from his inbox and reports it handled.
        log_in(page, base + "/cases/", actors.cgj, PASSWORD)
        open_from_queue(page, base, "?queue=mine", case.number)
        act(page, "accept", "处置中")
        act(page, "report_handled", "已处置，待核查", evidence="垃圾已清运")
        log_out(page)

        # 4. The grid worker checks on the spot and closes it.
        log_in(page, base + "/cases/", actors.grid, PASSWORD)
        open_from_queue(page, base, "", case.number)
        act(page, "verify", "已核查", note="现场已干净")
        act(page, "close_fixed", "已结案：已解决")
        log_out(page)

        # 5. The resident rates it; the page shows the rating and every step.
        log_in(page, f"{base}/cases/{case.pk}/", actors.resident, PASSWORD)
        act(page, "rate", "已评价", rating="4", comment="处理很快")
        expect(page.locator("#rating")).to_contain_text("★★★★☆")
        expect(page.locator("#rating")).to_contain_text("处理很快")
        rows = page.locator("table.stack tbody tr")
        expect(rows).to_have_count(8)
        timeline = rows.all_inner_texts()
        for row, state in zip(
            timeline,
            [
                "已上报",
                "已立案",
                "已派遣",
                "处置中",
                "已处置，待核查",
                "已核查",
                "已结案：已解决",
                "已评价",
            ],
            strict=True,
        ):
            assert "→ " + state in row, row
        assert "垃圾已清运" in timeline[4] and "现场已干净" in timeline[5]
        # Each step is named in the page's language, not by its code.
        assert not [row for row in timeline if "report →" in row or "close →" in row], timeline
        assert page.locator("form[action$='/act/']").count() == 0  # nothing left to do
        fits(page)
        assert not failed, failed

    case.refresh_from_db()
    assert (case.state, case.rating, case.rating_comment) == (CaseState.RATED, 4, "处理很快")
    assert (case.department.code, case.handler, case.close_reason) == ("CGJ", actors.cgj, "fixed")
    assert case.registered_on_time and case.dispatched_on_time
    assert case.handled_on_time and case.closed_on_time
    steps = list(CaseEvent.objects.filter(case=case).values_list("action", "actor__username"))
    assert steps == [
        ("report", "resident"),
        ("register", "gridworker"),
        ("dispatch", "gridworker"),
        ("accept", "cgj1"),
        ("report_handled", "cgj1"),
        ("verify", "gridworker"),
        ("close", "gridworker"),
        ("rate", "resident"),
    ]
    audit = AuditEntry.objects.filter(object_type="cases.case", object_id=str(case.pk))
    assert list(audit.order_by("id").values_list("actor__username", flat=True)) == [
        username for _action, username in steps
    ]
    # The reporter hears of the report and of every step someone else took.
    told = Outbox.objects.filter(case=case, recipient=actors.resident).order_by("id")
    assert list(told.values_list("kind", flat=True)) == [
        "report",
        "register",
        "dispatch",
        "accept",
        "report_handled",
        "verify",
        "close",
    ]


@pytest.mark.django_db(transaction=True)
def test_a_report_without_a_place_is_refused_next_to_the_map(live_server, town, taxonomy, actors):
    with_password(actors.resident)
    base = live_server.url

    with chromium_page() as page:
        failed = watch(page)
        log_in(page, base + "/cases/report/", actors.resident, PASSWORD)
        page.select_option("#id_category", str(taxonomy.cat["SJ0101"].pk))
        page.fill("#id_description", "路灯不亮")
        page.click("button:text-is('提交上报')")
        # The form comes back in place with the text kept and the missing place named at the map.
        expect(page.locator("#id_description")).to_have_value("路灯不亮")
        assert not Case.objects.exists()
        map_field = page.locator(".field.invalid", has=page.locator("#map"))
        expect(map_field.locator(".errorlist")).to_have_text(PIN_ON_THE_MAP)
        # Only the report form comes back, not the header's forms with it.
        expect(page.locator("main form")).to_have_count(1)
        fits(page)

        # The map is drawn again in the returned form; with the pin the same form goes through.
        place_pin_in_first_grid(page)
        page.click("button:text-is('提交上报')")
        expect(page.locator("h1 .tag").first).to_have_text("已上报")
        assert not failed, failed

    case = Case.objects.get()
    assert (case.description, case.grid) == ("路灯不亮", town.grid)


@pytest.mark.django_db(transaction=True)
def test_statistics_chart_export_and_the_map_of_open_cases(live_server, town, actors, year):
    with_password(actors.operator)
    base = live_server.url

    with chromium_page() as page:
        failed = watch(page)
        log_in(page, base + "/cases/statistics/", actors.operator, PASSWORD)
        page.select_option("#id_grouping", "grid")
        page.click("main form button[type=submit]")
        page.wait_for_url("**grouping=grid**")
        expect(page.locator("#statistics thead th").first).to_have_text("网格")
        table = page.locator("#statistics tbody tr")
        expect(table).to_have_count(3)  # two grids and the total
        expect(table.last).to_contain_text("合计")
        # ECharts drew one bar per grid and rate that has a value.
        expect(page.locator("#chart svg")).to_have_count(1)
        fits(page)
        with page.expect_download() as download:
            page.click("#export")
        assert download.value.suggested_filename.startswith("cases-grid-")

        page.goto(base + "/cases/map/")
        # The grid boundaries and one marker per open case (the late one and the old one).
        expect(page.locator("#map path.leaflet-interactive")).to_have_count(4)
        expect(page.locator("#map-count")).to_contain_text("2")
        fits(page)
        assert not failed, failed


@pytest.mark.django_db(transaction=True)
def test_a_refused_action_says_why_next_to_its_button(live_server, town, taxonomy, actors):
    from linli.cases import services

    with_password(actors.grid)
    case = services.case_report(
        actor=actors.resident,
        category_id=taxonomy.cat["SJ0101"].pk,
        description="路边有一堆垃圾",
        lat=37.005,
        lng=118.005,
    )
    with chromium_page() as page:
        failed = watch(page)
        log_in(page, f"{live_server.url}/cases/{case.pk}/", actors.grid, PASSWORD)
        # htmx was told not to inject its indicator <style>: the CSP would refuse it.
        assert page.locator("style").count() == 0
        # While the page is open, the community worker registers the case.
        services.case_register(actor=actors.community, case_id=case.pk)
        register = page.locator("form:has(input[name=action][value=register])")
        register.locator("button[type=submit]").click()
        refusal = register.locator("#error-register .alert-error")
        expect(refusal).to_have_text("此案件当前状态为已立案，不能“立案”。")
        expect(refusal).to_have_attribute("role", "alert")
        expect(page.locator("#messages")).to_be_empty()
        expect(page.locator("h1 .tag").first).to_have_text("已上报")  # the page did not move
        fits(page)
        assert failed == [f"409 {live_server.url}/cases/{case.pk}/act/"], failed

        # Reloaded, the page offers what the case now allows: dispatching, not registering.
        page.reload()
        expect(page.locator("input[name=action][value=register]")).to_have_count(0)
        expect(page.locator("input[name=action][value=dispatch]")).to_have_count(1)
