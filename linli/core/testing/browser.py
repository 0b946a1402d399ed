"""Debian's chromium driven by Playwright, for the browser flows.

Locally a missing browser skips those tests; under CI=true it fails them, so CI cannot go green
without having run them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connections

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def chromium_path() -> str | None:
    return os.environ.get("CHROMIUM") or shutil.which("chromium")


@contextmanager
def chromium_page(*, width: int = 360, height: int = 740, locale: str = "zh-CN") -> Iterator:
    path = chromium_path()
    if path is None:
        message = "Debian's chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; CI must run the browser tests")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # around it are still plain synchronous calls.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                viewport={"width": width, "height": height}, locale=locale
            )
            yield context.new_page()
        finally:
            browser.close()
            # ORM calls made inside this block get a connection of their own (Playwright's
            # greenlet context); close it, or PostgreSQL keeps the test database busy and
            # cannot drop it. Browser tests use live_server, so nothing is rolled back here.
            connections.close_all()


def log_in(page, url: str, user, password: str) -> None:
    """Open `url` signed out; the login page sends the user back to it."""
    page.goto(url)
    page.fill("#id_username", user.username)
    page.fill("#id_password", password)
    page.click("form[action='/login/'] button[type=submit]")
    page.wait_for_url(url)


def log_out(page) -> None:
    page.click("form[action='/logout/'] button[type=submit]")
    page.wait_for_url("**/login/")
