"""On a phone (360 px), a grid worker logs in to the workbench, sees what waits for them and
opens it: count → list → case, without scrolling sideways."""

import pytest
import time_machine
from playwright.sync_api import expect

from linli.cases import services
from linli.core.roles import Role
from linli.core.testing.browser import chromium_page
from linli.core.testing.factories import make_user

from .conftest import NOW

pytestmark = pytest.mark.browser

PASSWORD = "workbench-2026"


@pytest.fixture(autouse=True)
def frozen():
    """The clock starts at the same moment as in the other workbench tests but runs: the
    browser's waits need it to."""
    with time_machine.travel(NOW, tick=True) as traveller:
        yield traveller


def fits(page):
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, page.url


def test_a_grid_worker_opens_a_to_do_from_the_workbench_on_a_phone(
    live_server, town, taxonomy, grid_worker, people
):
    resident = make_user("resident", Role.RESIDENT)
    case = services.case_report(
        actor=resident,
        category_id=taxonomy["SJ0101"].pk,
        description="路边有一堆垃圾",
        lat=37.005,
        lng=118.005,
    )
    grid_worker.set_password(PASSWORD)
    grid_worker.save()
    with chromium_page(locale="en-US") as page:
        page.goto(live_server.url + "/")
        page.fill("#id_username", grid_worker.username)
        page.fill("#id_password", PASSWORD)
        page.click("form[action='/login/'] button[type=submit]")
        expect(page.locator("nav.main a[aria-current=page]")).to_have_text("Workbench")
        fits(page)
        waiting = page.locator("a[href='/workbench/?list=cases.waiting']")
        expect(waiting.locator("b")).to_have_text("1")
        waiting.click()
        expect(page.locator("h1")).to_have_text("Cases waiting for me")
        fits(page)
        page.click(f"a:has-text('{case.number}')")
        expect(page.locator("h1")).to_contain_text(case.number)
        fits(page)
