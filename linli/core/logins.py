"""Login throttling (登录限制) on django-axes: after too many failed passwords an account, or an
address, is locked for a while; the login page says until when; admins can unlock it.

Axes counts failures per account and per address in the database and refuses `authenticate()`
while either count is at its limit. It has one limit for both; ours differ, because a street
office's computers often share one address behind NAT: `LINLI_LOGIN_FAILURES_PER_ACCOUNT`
(default 5) and `LINLI_LOGIN_FAILURES_PER_ADDRESS` (default 30) within
`LINLI_LOGIN_LOCK_MINUTES` (default 15) of each other. API tokens never go through
`authenticate()` and are not throttled.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_parameters, get_client_username
from axes.models import AccessAttempt
from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.db import transaction
from django.db.models import QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from . import audit
from .errors import PermissionDenied, ValidationFailed
from .models import AuditAction, User

ACCOUNT, ADDRESS = "account", "address"


def cool_off(request: HttpRequest | None = None) -> dt.timedelta:
    """AXES_COOLOFF_TIME: how long failures count, read when used so tests can change it."""
    return dt.timedelta(minutes=settings.LINLI_LOGIN_LOCK_MINUTES)


def _limits() -> dict[str, int]:
    return {
        ACCOUNT: settings.LINLI_LOGIN_FAILURES_PER_ACCOUNT,
        ADDRESS: settings.LINLI_LOGIN_FAILURES_PER_ADDRESS,
    }


def _attempts(request: HttpRequest, username: str | None) -> dict[str, QuerySet]:
    """The failure rows still counted, per lockout parameter (AXES_LOCKOUT_PARAMETERS order)."""
    since = timezone.now() - cool_off()
    filters = get_client_parameters(
        username, request.axes_ip_address, request.axes_user_agent, request, None
    )
    return {
        ACCOUNT: AccessAttempt.objects.filter(**filters[0], attempt_time__gte=since),
        ADDRESS: AccessAttempt.objects.filter(**filters[1], attempt_time__gte=since),
    }


class LoginThrottle(AxesDatabaseHandler):
    """Axes' database handler with a limit per account and another per address, an audit entry
    when a lock begins, and a successful login clearing only that account's failures (not the
    address's, or one good account would reset an attacker's count)."""

    def get_failures(self, request, credentials: dict | None = None) -> int:
        # Axes compares this with AXES_FAILURE_LIMIT (the account limit); the address's count
        # is scaled to it, so each reaches the limit exactly at its own.
        username = get_client_username(request, credentials)
        limits = _limits()
        counts = {
            key: rows.aggregate(n=Sum("failures_since_start"))["n"] or 0
            for key, rows in _attempts(request, username).items()
        }
        return max(counts[ACCOUNT], counts[ADDRESS] * limits[ACCOUNT] // limits[ADDRESS])

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs) -> None:
        was_locked = bool(request is not None and request.axes_locked_out)
        super().user_login_failed(sender, credentials, request=request, **kwargs)
        if request is not None and request.axes_locked_out and not was_locked:
            lock = login_lock(request, get_client_username(request, credentials))
            if lock is not None:
                _record_lockout(request, lock)

    def reset_user_attempts(self, request, credentials: dict | None = None) -> int:
        username = get_client_username(request, credentials)
        count, _ = AccessAttempt.objects.filter(username=username).delete()
        return count


@dataclass(frozen=True)
class LoginLock:
    by: str  # ACCOUNT or ADDRESS
    until: dt.datetime
    failures: int


def _locked_until(rows: QuerySet, limit: int) -> tuple[dt.datetime, int] | None:
    """When the failures counted fall below the limit, and how many there are now.

    A row counts until `cool_off` after its last failure; the lock ends when the row that
    brought the newest ones up to the limit drops out."""
    total = 0
    for at, failures in rows.order_by("-attempt_time").values_list(
        "attempt_time", "failures_since_start"
    ):
        total += failures
        if total >= limit:
            return at + cool_off(), sum(rows.values_list("failures_since_start", flat=True))
    return None


def login_lock(request: HttpRequest, username: str | None) -> LoginLock | None:
    """The lock that refuses this login now, the later-ending one if both apply."""
    limits = _limits()
    locks = []
    for key, rows in _attempts(request, username).items():
        if key == ACCOUNT and not username:
            continue
        found = _locked_until(rows, limits[key])
        if found is not None:
            locks.append(LoginLock(by=key, until=found[0], failures=found[1]))
    return max(locks, key=lambda lock: lock.until, default=None)


def _record_lockout(request: HttpRequest, lock: LoginLock) -> None:
    attempt = AccessAttempt.objects.filter(
        username=get_client_username(request, request.axes_credentials),
        ip_address=request.axes_ip_address,
        user_agent=request.axes_user_agent,
    ).first()
    if attempt is None:
        return
    account = User.objects.filter(username=attempt.username).first()
    with transaction.atomic():
        audit.record(
            actor=None,
            action=AuditAction.UPDATE,
            instance=attempt,
            label=_attempt_label(attempt),
            place_path=(account.scope_paths or [""])[0] if account else "",
            changes={
                "locked_until": [None, timezone.localtime(lock.until).isoformat()],
                "locked_by": lock.by,
                "failures": lock.failures,
            },
        )


def _attempt_label(attempt: AccessAttempt) -> str:
    return f"{attempt.username or '-'} @ {attempt.ip_address or '-'}"


def lock_message(lock: LoginLock) -> str:
    until = formats.date_format(timezone.localtime(lock.until), "Y-m-d H:i")
    if lock.by == ACCOUNT:
        return _(
            "Too many wrong passwords for this account: it is locked until %(time)s. Try again "
            "then, or ask an administrator to unlock it."
        ) % {"time": until}
    return _(
        "Too many wrong passwords from this network address: logins from it are locked until "
        "%(time)s. Try again then, or ask an administrator to unlock it."
    ) % {"time": until}


class LoginForm(AuthenticationForm):
    """The login form; a login refused because of a lock says so and until when."""

    def clean(self):
        try:
            return super().clean()
        except forms.ValidationError:
            if self.request is None or not getattr(self.request, "axes_locked_out", False):
                raise
            lock = login_lock(self.request, self.cleaned_data.get("username"))
            if lock is None:
                raise
            raise forms.ValidationError(lock_message(lock), code="locked_out") from None


def lockout_response(
    request: HttpRequest, original_response: HttpResponse, credentials: dict | None = None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the login page as rendered (LoginForm put the reason on it), as
    429 Too Many Requests."""
    original_response.status_code = 429
    return original_response


@transaction.atomic
def login_unlock(*, actor: User | None, username: str = "", address: str = "") -> int:
    """Clear the failures counted against an account (any address), an address (any account),
    or that account from that address; returns how many failure rows were cleared.

    `actor` None means the operating-system user running `linli unlock_login` on the server."""
    if actor is not None and not actor.sees_everything:
        raise PermissionDenied(_("Only an administrator can unlock logins."))
    username, address = (username or "").strip(), (address or "").strip()
    if not username and not address:
        raise ValidationFailed(
            _("Name the account or the network address to unlock."),
            details={"username": [_("Give a user name, an address, or both.")]},
        )
    rows = AccessAttempt.objects.select_for_update()
    if username:
        rows = rows.filter(username=username)
    if address:
        rows = rows.filter(ip_address=address)
    return attempts_unlock(actor=actor, attempts=rows)


@transaction.atomic
def attempts_unlock(*, actor: User | None, attempts: QuerySet[AccessAttempt]) -> int:
    """Delete these failure rows, one audit entry each (the admin's "unlock" action)."""
    if actor is not None and not actor.sees_everything:
        raise PermissionDenied(_("Only an administrator can unlock logins."))
    rows = list(attempts)
    for attempt in rows:
        audit.record(
            actor=actor,
            action=AuditAction.UPDATE,
            instance=attempt,
            label=_attempt_label(attempt),
            changes={"failures": [attempt.failures_since_start, 0]},
        )
    AccessAttempt.objects.filter(pk__in=[a.pk for a in rows]).delete()
    return len(rows)
