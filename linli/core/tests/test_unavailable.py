"""A locked or unreachable database answers 503 with Retry-After, for pages and for the API."""

import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.db import OperationalError
from django.db.utils import ConnectionHandler

from linli.core.unavailable import is_database_outage

REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server_without_database(tmp_path_factory):
    """The production server (granian) with DATABASE_URL on a port where nothing listens."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://linli@127.0.0.1:{free_port()}/linli",
        "SECRET_KEY": "test-unavailable",
        "DEBUG": "0",
        "LINLI_VAR_DIR": str(tmp_path_factory.mktemp("var")),
    }
    env.pop("LINLI_TEST_CLOCK", None)
    granian = Path(sys.executable).with_name("granian")
    process = subprocess.Popen(
        [
            *(granian, "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port)),
            *("--workers", "1", "--log-level", "warning", "linli.wsgi:application"),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                # The first request loads the URLs and templates: seconds on a busy machine.
                httpx.get(f"{base}/", timeout=60)
                break
            except httpx.TransportError:
                if process.poll() is not None:
                    pytest.fail(f"granian exited: {process.stderr.read().decode()}")
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_page_answers_503_with_a_plain_page(server_without_database):
    # A session cookie makes the page look its user up in the database.
    response = httpx.get(
        f"{server_without_database}/",
        cookies={"sessionid": "x" * 32},
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Please try again shortly" in response.text
    assert "its database is busy or cannot be reached" in response.text


def test_an_htmx_request_gets_the_error_partial(server_without_database):
    response = httpx.get(
        f"{server_without_database}/",
        cookies={"sessionid": "x" * 32},
        headers={"HX-Request": "true", "Accept-Language": "en"},
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert response.headers["HX-Retarget"] == "#messages"
    assert response.text.startswith('<div class="alert alert-error" role="alert">')


def test_the_api_answers_503_in_the_one_error_shape(server_without_database):
    response = httpx.get(
        f"{server_without_database}/api/v1/cases",
        headers={"Authorization": "Bearer some-token", "Accept-Language": "en"},
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    body = response.json()
    assert body["code"] == "unavailable"
    assert body["errors"] == []
    assert "try again" in body["detail"]


@pytest.fixture
def locked_sqlite(tmp_path, django_db_blocker):
    """A SQLite file whose write lock another connection holds, and a Django connection to it
    that waits 50 ms for the lock."""
    path = tmp_path / "locked.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x integer)")
    holder.execute("BEGIN EXCLUSIVE")
    handler = ConnectionHandler(
        {
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(path),
                "OPTIONS": {"timeout": 0.05},
            }
        }
    )
    with django_db_blocker.unblock():
        yield handler["default"]
    handler.close_all()
    holder.close()


def test_a_locked_sqlite_database_is_an_outage(locked_sqlite):
    with pytest.raises(OperationalError) as caught, locked_sqlite.cursor() as cursor:
        cursor.execute("SELECT x FROM t")
    assert "locked" in str(caught.value)
    assert is_database_outage(caught.value)


def test_a_missing_table_is_not_an_outage(tmp_path, django_db_blocker):
    handler = ConnectionHandler(
        {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "x.sqlite3")}}
    )
    with (
        django_db_blocker.unblock(),
        pytest.raises(OperationalError) as caught,
        handler["default"].cursor() as cursor,
    ):
        cursor.execute("SELECT x FROM missing")
    handler.close_all()
    assert not is_database_outage(caught.value)
