import datetime as dt
import logging
import threading

import pytest
from django.db import connection
from django.utils import timezone

from linli.cases import notifications, services
from linli.cases.models import Outbox, OutboxStatus
from linli.cases.notifications import NotificationChannel, deliver_outbox

SENT: list[int] = []
_sent_lock = threading.Lock()


class RecordingChannel(NotificationChannel):
    def send(self, *, message_id, message, text):
        with _sent_lock:
            SENT.append(message_id)


class BrokenChannel(NotificationChannel):
    def send(self, *, message_id, message, text):
        raise ConnectionError("gateway refused 13912345678")


@pytest.fixture
def channels(settings):
    SENT.clear()

    def use(path):
        settings.LINLI_NOTIFY_CHANNELS = {"sms": path, "wechat": path}

    return use


def test_each_message_is_sent_once_and_phones_never_reach_the_log(actors, report, caplog):
    report(actor=None, reporter_phone="13800138000", description="井盖丢了 13800138000")
    report()
    caplog.set_level(logging.INFO, logger="linli.cases.notify")
    assert deliver_outbox() == 2
    assert deliver_outbox() == 0
    assert set(Outbox.objects.values_list("status", "attempts")) == {(OutboxStatus.SENT, 1)}
    logged = caplog.text
    assert "138****8000" in logged and "13800138000" not in logged
    assert "井盖" not in logged  # the description is not in the message
    assert "已收到上报" in logged  # residents are written to in the default language


def test_failures_are_retried_with_backoff_then_given_up(actors, report, channels):
    channels("linli.cases.tests.test_outbox.BrokenChannel")
    report()
    now = timezone.now()
    assert deliver_outbox(now=now) == 0
    message = Outbox.objects.get()
    assert (message.status, message.attempts) == (OutboxStatus.PENDING, 1)
    assert message.next_attempt_at == now + dt.timedelta(minutes=1)
    assert "13912345678" not in message.last_error and "139****5678" in message.last_error
    assert deliver_outbox(now=now) == 0  # not due yet: no second attempt at once
    for attempt in range(2, notifications.MAX_ATTEMPTS + 1):
        now = Outbox.objects.get().next_attempt_at
        deliver_outbox(now=now)
        assert Outbox.objects.get().attempts == attempt
    assert Outbox.objects.get().status == OutboxStatus.DEAD
    assert notifications.backoff(20) == dt.timedelta(hours=6)
    channels("linli.cases.tests.test_outbox.RecordingChannel")
    assert deliver_outbox(now=now + dt.timedelta(days=1)) == 0


def test_messages_follow_the_case_and_commit_with_it(actors, report, channels):
    channels("linli.cases.tests.test_outbox.RecordingChannel")
    case = report()
    services.case_register(actor=actors.grid, case_id=case.pk)
    services.case_dispatch(actor=actors.grid, case_id=case.pk)
    texts = [notifications.render(m) for m in Outbox.objects.order_by("id")]
    assert all(case.number in text for text in texts)
    assert deliver_outbox() == Outbox.objects.count() == 1 + 1 + 3
    assert sorted(SENT) == sorted(Outbox.objects.values_list("pk", flat=True))


def test_the_change_enqueues_the_sender(actors, report, django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    with django_capture_on_commit_callbacks(execute=True):
        report()
    (task,) = DBTaskResult.objects.all()
    assert task.task_path == "linli.cases.tasks.deliver_notifications"


@pytest.mark.django_db(transaction=True)
def test_two_senders_at_once_send_each_message_exactly_once(town, taxonomy, channels, report):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; SKIP LOCKED needs PostgreSQL")
    channels("linli.cases.tests.test_outbox.RecordingChannel")
    for _ in range(60):
        report()
    barrier = threading.Barrier(3)
    counts: list[int] = []

    def sender():
        from django.db import connection as thread_connection

        barrier.wait()
        try:
            counts.append(deliver_outbox(batch=5))
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=sender) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == 60 == len(SENT) == len(set(SENT))
    assert not Outbox.objects.exclude(status=OutboxStatus.SENT).exists()


def test_changes_in_quick_succession_enqueue_one_sender(
    actors, report, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    with django_capture_on_commit_callbacks(execute=True):
        report()
        report(description="另一处垃圾")
    # One sender serves both: it sends every pending row when it runs.
    assert DBTaskResult.objects.count() == 1
    assert Outbox.objects.filter(status="pending").count() == 2
