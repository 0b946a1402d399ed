"""Login throttling: wrong passwords lock the account, or the address, for a while; the login
page says so and until when; admins unlock with an audit entry; API tokens are unaffected."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from axes.models import AccessAttempt
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from linli.core.errors import PermissionDenied
from linli.core.logins import login_unlock
from linli.core.models import AuditEntry
from linli.core.roles import Role
from linli.core.services import api_token_issue
from linli.core.testing.factories import make_user

MOMENT = dt.datetime(2026, 12, 1, 10, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
OFFICE = "10.1.2.3"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def clock():
    with time_machine.travel(MOMENT, tick=False) as traveller:
        yield traveller


def log_in(client, username, password, address=OFFICE, language="en"):
    with translation.override(language):
        return client.post(
            reverse("login"),
            {"username": username, "password": password},
            REMOTE_ADDR=address,
            headers={"Accept-Language": language},
        )


def logged_in(response) -> bool:
    return response.status_code == 302


def test_wrong_passwords_lock_the_account_until_a_time_the_page_gives(client, town, clock):
    user = make_user("wangli", Role.STREET_OFFICER, [town.street])
    statuses = [log_in(client, "wangli", "guess").status_code for _ in range(30)]
    assert statuses == [200] * 4 + [429] * 26  # locked by the fifth
    refused = log_in(client, "wangli", "pw-wangli")
    assert refused.status_code == 429
    body = refused.content.decode()
    assert "locked until 2026-12-01 10:45" in body
    assert "_auth_user_id" not in client.session

    chinese = log_in(client, "wangli", "pw-wangli", language="zh-hans").content.decode()
    assert "锁定" in chinese and "2026-12-01 10:45" in chinese

    # Another account from the same office is not locked by it.
    make_user("colleague", Role.STREET_OFFICER, [town.street])
    assert logged_in(log_in(client, "colleague", "pw-colleague"))
    client.logout()

    clock.shift(dt.timedelta(minutes=14))
    assert log_in(client, "wangli", "pw-wangli").status_code == 429  # retrying does not extend
    clock.shift(dt.timedelta(minutes=1, seconds=1))
    assert logged_in(log_in(client, "wangli", "pw-wangli"))
    assert user.pk == int(client.session["_auth_user_id"])


def test_the_lock_begins_at_the_limit_and_is_audited_once(client, town, settings, clock):
    make_user("wangli", Role.STREET_OFFICER, [town.street])
    for _ in range(settings.LINLI_LOGIN_FAILURES_PER_ACCOUNT - 1):
        log_in(client, "wangli", "guess")
    assert logged_in(log_in(client, "wangli", "pw-wangli"))  # one short of the limit
    client.logout()
    # A success clears the account's count: the limit is counted afresh.
    for _ in range(settings.LINLI_LOGIN_FAILURES_PER_ACCOUNT):
        log_in(client, "wangli", "guess")
    for _ in range(3):
        log_in(client, "wangli", "guess")
    entries = AuditEntry.objects.filter(object_type="axes.accessattempt")
    assert entries.count() == 1
    entry = entries.get()
    assert entry.object_label == f"wangli @ {OFFICE}"
    assert entry.source == OFFICE
    assert entry.changes["locked_until"] == [None, "2026-12-01T10:45:00+08:00"]
    assert entry.changes["locked_by"] == "account"
    assert entry.place_path == town.street.path  # the street's auditors see it


def test_many_accounts_tried_from_one_address_lock_the_address(client, town, settings, clock):
    make_user("wangli", Role.STREET_OFFICER, [town.street])
    for i in range(settings.LINLI_LOGIN_FAILURES_PER_ADDRESS):
        log_in(client, f"nobody{i}", "guess")
    refused = log_in(client, "wangli", "pw-wangli")
    assert refused.status_code == 429
    assert "from this network address" in refused.content.decode()
    assert logged_in(log_in(client, "wangli", "pw-wangli", address="10.9.9.9"))


def test_the_unlock_command_clears_the_account_with_an_audit_entry(client, town, clock):
    make_user("wangli", Role.STREET_OFFICER, [town.street])
    for _ in range(6):
        log_in(client, "wangli", "guess")
    assert log_in(client, "wangli", "pw-wangli").status_code == 429
    call_command("unlock_login", user="wangli")
    assert not AccessAttempt.objects.filter(username="wangli").exists()
    unlock = AuditEntry.objects.filter(object_type="axes.accessattempt", source="cli").get()
    assert unlock.changes == {"failures": [5, 0]}  # the five up to the lock; later ones refused
    assert logged_in(log_in(client, "wangli", "pw-wangli"))


def test_admins_unlock_in_the_admin_and_only_admins_may(client, town, admin, clock):
    make_user("wangli", Role.STREET_OFFICER, [town.street])
    for _ in range(5):
        log_in(client, "wangli", "guess")
    officer = make_user("officer2", Role.STREET_OFFICER, [town.street])
    with pytest.raises(PermissionDenied):
        login_unlock(actor=officer, username="wangli")

    admin.is_staff = admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    rows = list(AccessAttempt.objects.values_list("pk", flat=True))
    response = client.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "unlock", "_selected_action": rows},
    )
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    assert AuditEntry.objects.filter(actor=admin, object_type="axes.accessattempt").count() == 1
    client.logout()
    assert logged_in(log_in(client, "wangli", "pw-wangli"))


def test_api_tokens_of_a_locked_account_still_work(client, town, clock):
    user = make_user("wangli", Role.STREET_OFFICER, [town.street])
    _, key = api_token_issue(actor=None, user=user, name="client")
    for _ in range(10):
        log_in(client, "wangli", "guess")
    assert log_in(client, "wangli", "pw-wangli").status_code == 429
    response = client.get("/api/v1/places", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
