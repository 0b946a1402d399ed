"""In a real browser, every page with a map or a chart runs under the strict
Content-Security-Policy without a single violation, and a grid named like an HTML attack shows
as text on the maps and runs nothing. The report page's "my location" button places the pin,
or says why it cannot."""

import pytest
from playwright.sync_api import expect

from linli.core.testing.browser import chromium_page, log_in, log_out
from linli.places.services import place_update

from .conftest import HERE

pytestmark = pytest.mark.browser

PASSWORD = "no-inline-script-2026"
ATTACK = "<img src=x onerror=alert(1)>"

# Recorded in the page before any of its own scripts runs (Playwright's init scripts are not
# subject to the page's policy).
LISTEN = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI + " " + e.sourceFile);
});
"""


# The chart's tooltip on the row of the given name, as hovering over it would show it.
SHOW_TIP = """name => {
  var row = JSON.parse(document.getElementById("chart-data").textContent).names.indexOf(name);
  echarts.getInstanceByDom(document.getElementById("chart"))
    .dispatchAction({ type: "showTip", seriesIndex: 0, dataIndex: row });
}"""


def with_password(*users):
    for user in users:
        user.set_password(PASSWORD)
        user.save()


def guard(page) -> list:
    """Everything that would mean the policy was broken or the attack ran: CSP reports on the
    console, violation events, script errors, alert dialogs, failed responses."""
    problems = []
    page.add_init_script(LISTEN)
    page.on(
        "console",
        lambda m: (
            problems.append(f"console: {m.text}")
            if "Content Security Policy" in m.text or m.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"script error: {e}"))

    def dialog(d):
        problems.append(f"dialog: {d.message}")
        d.dismiss()

    page.on("dialog", dialog)
    page.on(
        "response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None
    )
    return problems


def violations(page) -> list:
    return page.evaluate("window.__violations")


def assert_label_is_text(page):
    label = page.locator("#map .map-label", has_text=ATTACK)
    expect(label).to_have_count(1)
    assert label.inner_text() == ATTACK
    expect(page.locator("#map img[src=x]")).to_have_count(0)


@pytest.mark.django_db(transaction=True)
def test_maps_and_charts_run_under_the_policy_and_names_stay_text(
    live_server, town, actors, year, street_officer
):
    place_update(actor=street_officer, place_id=town.grid.id, name=ATTACK)
    with_password(actors.resident, actors.operator, street_officer)
    base = live_server.url

    with chromium_page() as page:
        problems = guard(page)

        log_in(page, base + "/cases/report/", actors.resident, PASSWORD)
        expect(page.locator("#map path.leaflet-interactive")).to_have_count(2)
        assert_label_is_text(page)
        assert violations(page) == []
        log_out(page)

        log_in(page, base + "/cases/map/", actors.operator, PASSWORD)
        # Two grids, two open cases (the `year` fixture's late one and old one).
        expect(page.locator("#map path.leaflet-interactive")).to_have_count(4)
        assert_label_is_text(page)
        assert violations(page) == []

        page.goto(base + "/cases/statistics/")
        page.select_option("#id_grouping", "grid")
        page.click("main form button[type=submit]")
        page.wait_for_url("**grouping=grid**")
        expect(page.locator("#chart svg")).to_have_count(1)
        expect(page.locator("#statistics")).to_contain_text(ATTACK)
        # The chart's tooltip names the grid as text too: once more beside the axis label.
        page.locator("#chart svg").scroll_into_view_if_needed()
        names = page.locator("#chart svg text", has_text=ATTACK)
        expect(names).to_have_count(1)
        page.evaluate(SHOW_TIP, ATTACK)
        expect(names).to_have_count(2)
        expect(page.locator("#chart img")).to_have_count(0)
        assert violations(page) == []
        log_out(page)

        log_in(page, base + f"/places/{town.community.id}/", street_officer, PASSWORD)
        expect(page.locator("#map path.leaflet-interactive")).to_have_count(1)
        assert_label_is_text(page)
        expect(page.locator("ul.tree").first).to_contain_text(ATTACK)
        # Opening a tree node (the "+" goes once its children are in) needs no eval.
        page.goto(base + "/places/")
        opener = f"button.toggle[hx-get='/places/{town.street.id}/children/']"
        page.click(opener)
        expect(page.locator("ul.tree a", has_text="银座社区")).to_have_count(1)
        expect(page.locator(opener)).to_have_count(0)
        # The language switch submits without an inline handler.
        page.select_option("select[name=language]", "en")
        expect(page.locator("h1")).to_have_text("Places")
        assert violations(page) == []

    assert problems == []


@pytest.mark.django_db(transaction=True)
def test_my_location_places_the_pin_or_says_why_not(live_server, town, actors):
    with_password(actors.resident)
    base = live_server.url
    with chromium_page(locale="en-US") as page:
        problems = guard(page)
        log_in(page, base + "/cases/report/", actors.resident, PASSWORD)
        # Refused (the browser was not allowed to share the location).
        page.click("#locate")
        expect(page.locator("#locate-status")).to_contain_text("Your location was not shared")
        expect(page.locator("#pin")).to_be_empty()

        page.context.grant_permissions(["geolocation"], origin=base)
        page.context.set_geolocation({"latitude": HERE[0], "longitude": HERE[1]})
        page.click("#locate")
        expect(page.locator("#pin")).to_have_text(f"{HERE[0]:.6f}, {HERE[1]:.6f}")
        expect(page.locator("#locate-status")).to_be_empty()
        assert page.input_value("#id_lat") == f"{HERE[0]:.6f}"
        expect(page.locator("#map .leaflet-marker-icon")).to_have_count(1)
        assert violations(page) == []
    assert problems == []
