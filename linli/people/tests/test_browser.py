"""In a real browser at phone width: log in, search, open a person, masked, then revealed."""

import pytest

from linli.core.models import AuditAction, AuditEntry
from linli.core.roles import Role
from linli.core.testing.browser import chromium_page
from linli.core.testing.factories import make_user


@pytest.mark.django_db(transaction=True)
def test_login_search_open_and_reveal_at_360px(live_server, town, people):
    user = make_user("walker", Role.GRID_WORKER, [town.grid])
    user.set_password("walk-the-grid-2026")
    user.save()
    full_id = people.head.id_number

    with chromium_page() as page:
        failed = []
        page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
        page.goto(live_server.url + "/")
        page.fill("#id_username", "walker")
        page.fill("#id_password", "walk-the-grid-2026")
        page.click("form[action='/login/'] button[type=submit]")
        page.wait_for_url(live_server.url + "/")

        page.fill("#quick-name", "张大")
        page.click("form[action='/people/persons/'] button[type=submit]")
        page.wait_for_selector(f"text={people.head.name}")
        assert people.other_head.name not in page.content()
        # Nothing personal travels in the address bar.
        assert "张" not in page.url and "%E5%BC%A0" not in page.url

        page.click(f"a:has-text('{people.head.name}')")
        page.wait_for_selector("#id-number")
        assert page.inner_text("#id-number") == people.head.id_masked
        assert full_id not in page.content()
        # No horizontal scrolling at 360 px.
        assert page.evaluate("document.documentElement.scrollWidth") <= 360

        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#reveal")
        page.wait_for_selector("#id-number-full")
        assert page.inner_text("#id-number-full") == full_id
        assert not [url for url in failed if not url.endswith("favicon.ico")], failed

    entry = AuditEntry.objects.filter(action=AuditAction.REVEAL).latest("id")
    assert entry.actor_id == user.id and entry.object_id == str(people.head.id)
