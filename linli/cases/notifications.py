"""Notifications through a durable outbox (消息通知).

Services write `Outbox` rows in the transaction of the change they tell of: the reporter and
the current handler (or, before anyone took the case on, the handlers of its department) hear
of every change, except the person who made it. A sender task delivers due rows; channels are
pluggable (settings.LINLI_NOTIFY_CHANNELS maps a channel name to a class path) and the ones
shipped only log, with phone numbers masked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from abc import ABC, abstractmethod

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from linli.core.inserts import insert_new
from linli.core.masking import mask_phone, scrub
from linli.core.models import User

from .models import Case, CaseEvent, CaseState, Channel, Outbox, OutboxStatus

logger = logging.getLogger("linli.cases.notify")

MAX_ATTEMPTS = 8
BACKOFF_BASE = dt.timedelta(minutes=1)
BACKOFF_CAP = dt.timedelta(hours=6)

DEFAULT_CHANNELS = {
    Channel.SMS: "linli.cases.notifications.LoggingSmsChannel",
    Channel.WECHAT: "linli.cases.notifications.LoggingWechatChannel",
}


class NotificationChannel(ABC):
    """Sends one message. Raise to have the outbox retry later; `message_id` is stable across
    retries, so a provider that deduplicates by it never shows a message twice."""

    @abstractmethod
    def send(self, *, message_id: int, message: Outbox, text: str) -> None: ...


class LoggingSmsChannel(NotificationChannel):
    def send(self, *, message_id: int, message: Outbox, text: str) -> None:
        logger.info("sms #%s to %s: %s", message_id, mask_phone(message.phone), scrub(text))


class LoggingWechatChannel(NotificationChannel):
    def send(self, *, message_id: int, message: Outbox, text: str) -> None:
        logger.info("wechat #%s to user %s: %s", message_id, message.recipient_id, scrub(text))


def get_channel(name: str) -> NotificationChannel:
    paths = {**DEFAULT_CHANNELS, **getattr(settings, "LINLI_NOTIFY_CHANNELS", {})}
    return import_string(paths[name])()


def backoff(attempts: int) -> dt.timedelta:
    """1, 2, 4 … minutes after each failure, at most 6 hours."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_CAP)


def _phone_key(phone: str) -> str:
    return hashlib.sha256(phone.encode()).hexdigest()[:16]


def case_recipients(case: Case) -> list[tuple[str, int | None, str]]:
    """(channel, user id, phone) for the reporter and the current handler(s)."""
    out: list[tuple[str, int | None, str]] = []
    if case.reporter_id:
        out.append((Channel.WECHAT, case.reporter_id, ""))
    elif case.reporter_phone:
        out.append((Channel.SMS, None, case.reporter_phone))
    if case.handler_id:
        out.append((Channel.WECHAT, case.handler_id, ""))
    elif case.department_id:
        handlers = User.objects.filter(departments=case.department_id, is_active=True)
        out.extend((Channel.WECHAT, pk, "") for pk in handlers.values_list("pk", flat=True))
    return out


def notify_case_event(*, case: Case, event: CaseEvent, actor: User | None) -> int:
    """Queue messages about `event` (call inside the transaction that wrote it)."""
    rows = []
    seen: set[tuple[str, int | None, str]] = set()
    for channel, user_id, phone in case_recipients(case):
        # People are not told what they just did themselves, except that their report arrived
        # (the message carries its number).
        own = actor is not None and user_id == actor.pk and event.action != "report"
        if own or (channel, user_id, phone) in seen:
            continue
        seen.add((channel, user_id, phone))
        who = f"u{user_id}" if user_id else f"p{_phone_key(phone)}"
        rows.append(
            Outbox(
                channel=channel,
                recipient_id=user_id,
                phone=phone,
                case=case,
                kind=event.action,
                params={"number": case.number, "state": case.state},
                dedupe_key=f"event:{event.pk}:{channel}:{who}",
            )
        )
    if rows:
        insert_new(rows)
        transaction.on_commit(enqueue_delivery)
    return len(rows)


# At most one delivery task per process in this many seconds: at a hundred reports a second, a
# task per change would cost each report a second transaction and the worker a task each. A
# task sends every pending row, so one enqueued moments ago sends this change's rows too;
# should it have read the table just before they were committed, the every-minute job does.
ENQUEUE_AT_MOST_EVERY = 1.0
_last_enqueued = -ENQUEUE_AT_MOST_EVERY


def enqueue_delivery() -> None:
    global _last_enqueued
    from .tasks import deliver_notifications

    now = time.monotonic()
    if now - _last_enqueued < ENQUEUE_AT_MOST_EVERY:
        return
    _last_enqueued = now
    deliver_notifications.enqueue()


def reset_enqueue_debounce() -> None:
    global _last_enqueued
    _last_enqueued = -ENQUEUE_AT_MOST_EVERY


def render(message: Outbox) -> str:
    """The text, in the site's default language; never the description or a phone number."""
    params = message.params or {}
    number = params.get("number", "")
    with translation.override(settings.LANGUAGE_CODE):
        if message.kind == "report":
            return _("Report %(number)s received. You will hear of each step.") % {"number": number}
        if message.kind == "warning":
            return _("Case %(number)s: its deadline is near.") % {"number": number}
        if message.kind == "summons":
            return _("Case %(number)s: your department is summoned; report in.") % {
                "number": number
            }
        if message.kind == "overdue":
            return _("Case %(number)s is overdue and has been escalated.") % {"number": number}
        state = params.get("state", "")
        label = CaseState(state).label if state in CaseState.values else state
        return _("Case %(number)s: %(state)s.") % {"number": number, "state": label}


def deliver_outbox(*, batch: int = 100, now: dt.datetime | None = None) -> int:
    """Send due messages; returns how many were sent.

    Each batch is locked with SKIP LOCKED and marked in the same transaction as it is sent, so
    two senders never send one message; a failure is retried with backoff, then given up.
    """
    now = now or timezone.now()
    sent = 0
    # Bounded: each pass either sends or pushes rows past `now`, so none is picked twice.
    for _pass in range(10_000):
        with transaction.atomic():
            rows = list(
                Outbox.objects.select_for_update(skip_locked=True)
                .filter(status=OutboxStatus.PENDING, next_attempt_at__lte=now)
                .order_by("next_attempt_at", "id")[:batch]
            )
            if not rows:
                break
            for message in rows:
                try:
                    get_channel(message.channel).send(
                        message_id=message.pk, message=message, text=render(message)
                    )
                except Exception as exc:
                    message.attempts += 1
                    message.last_error = scrub(f"{type(exc).__name__}: {exc}")[:500]
                    if message.attempts >= MAX_ATTEMPTS:
                        message.status = OutboxStatus.DEAD
                        logger.warning("gave up on message #%s: %s", message.pk, message.last_error)
                    else:
                        message.next_attempt_at = now + backoff(message.attempts)
                else:
                    message.status, message.sent_at = OutboxStatus.SENT, timezone.now()
                    message.attempts += 1
                    sent += 1
            Outbox.objects.bulk_update(
                rows, ["status", "sent_at", "attempts", "next_attempt_at", "last_error"]
            )
    return sent
