"""The API's interactive docs: Swagger UI from this site's own static files, so the page works
on a closed network, and under the site's Content-Security-Policy."""

import pytest

from linli.core.testing.browser import chromium_page


def test_docs_page_loads_swagger_from_this_site_only(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    # The site's strict policy, no exemption: Swagger UI sets styles through the CSSOM and
    # reads its settings from a JSON data block, neither of which the policy refuses.
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe" not in policy


@pytest.mark.django_db(transaction=True)
def test_docs_render_every_route_offline_under_the_policy(live_server):
    with chromium_page(width=1280, height=900, locale="en-US") as page:
        outside, refused = [], []

        def only_this_site(route):
            if route.request.url.startswith(live_server.url):
                route.continue_()
            else:  # a closed network: nothing outside answers
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_this_site)
        page.on(
            "console",
            lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
        )
        page.goto(live_server.url + "/api/v1/docs")
        me = "#operations-auth-linli_core_api_me"
        page.wait_for_selector(f"{me} .opblock-summary", timeout=20000)
        assert page.locator(".opblock").count() > 30
        # Open an operation and call it from the page: 401, as no one is signed in.
        page.click(f"{me} .opblock-summary")
        page.click(f"{me} .try-out__btn")
        page.click(f"{me} .execute")
        page.wait_for_selector(f"{me} .live-responses-table")
        assert "unauthenticated" in page.inner_text(me)
        assert not outside, outside
        assert not refused, refused
