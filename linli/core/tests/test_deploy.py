"""Deployment settings: HTTPS behind SECURE_COOKIES=1, and a sign-in that lasts a working day."""

import datetime as dt
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from django.utils import timezone

from linli.core.roles import Role
from linli.core.testing.factories import make_user

REPO = Path(__file__).resolve().parents[3]
HTTPS_WARNINGS = {"security.W004", "security.W008", "security.W012", "security.W016"}


def deploy_warnings(tmp_path, **env) -> set[str]:
    """The warning ids of `linli check --deploy` run as production would run it."""
    environment = {
        **os.environ,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "0",
        "LINLI_VAR_DIR": str(tmp_path),
        **env,
    }
    result = subprocess.run(
        [Path(sys.executable).with_name("linli"), "check", "--deploy"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return {word.strip("():") for word in result.stderr.split() if word.startswith("(security.")}


def test_secure_cookies_turns_on_https_redirect_and_hsts(tmp_path):
    assert deploy_warnings(tmp_path, SECURE_COOKIES="0") >= HTTPS_WARNINGS
    assert not deploy_warnings(tmp_path, SECURE_COOKIES="1") & HTTPS_WARNINGS


@pytest.mark.django_db
def test_a_sign_in_lasts_eight_hours(client, town):
    street_officer = make_user("officer", Role.STREET_OFFICER, [town.street])
    signed_in = timezone.make_aware(dt.datetime(2026, 12, 2, 8, 30))
    with time_machine.travel(signed_in, tick=False) as clock:
        client.force_login(street_officer)
        clock.shift(dt.timedelta(hours=7, minutes=59))
        assert client.get("/").status_code == 200
        clock.shift(dt.timedelta(minutes=2))
        response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_make_demo_writes_a_local_env_that_linli_commands_read(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "MAKEFLAGS"}}
    env["LINLI_VAR_DIR"] = str(tmp_path)
    local_env = tmp_path / "local.env"
    make = ["make", "--no-print-directory", "-s", str(local_env)]
    subprocess.run(make, cwd=REPO, env=env, check=True, capture_output=True, timeout=60)
    assert local_env.stat().st_mode & 0o077 == 0  # the key is the owner's alone
    key = dict(line.split("=", 1) for line in local_env.read_text().splitlines() if "=" in line)[
        "SECRET_KEY"
    ]
    assert len(key) >= 50

    def settings_seen(**extra) -> str:
        code = "from django.conf import settings; print(settings.DEBUG, settings.SECRET_KEY)"
        return subprocess.run(
            [Path(sys.executable).with_name("linli"), "shell", "--no-imports", "-c", code],
            env={**env, **extra},
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout.strip()

    assert settings_seen() == f"True {key}"  # a new shell: nothing exported
    assert settings_seen(SECRET_KEY="from-the-environment") == "True from-the-environment"
    subprocess.run(make, cwd=REPO, env=env, check=True, capture_output=True, timeout=60)
    assert key in local_env.read_text()  # written once: sessions survive the next `make demo`


@pytest.mark.parametrize("hours", ["eight", "0"])
def test_a_bad_session_length_is_refused_at_start_with_the_fix(tmp_path, hours):
    result = subprocess.run(
        [Path(sys.executable).with_name("linli"), "check"],
        env={**os.environ, "LINLI_VAR_DIR": str(tmp_path), "LINLI_SESSION_HOURS": hours},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "LINLI_SESSION_HOURS must be a positive number of hours, e.g. 8." in result.stderr
