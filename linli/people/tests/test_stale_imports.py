"""An import whose worker is killed mid-way is found by the periodic job and marked failed.

A real `linli db_worker` process runs a large import and is killed with SIGKILL while it is
checking rows; the detection then runs with the clock moved on (nothing sleeps for minutes).
The worker is another process, so it needs a database it can open: on PostgreSQL the test
database itself; on SQLite (in memory for tests) a file copy, copied back after the kill.
"""

import datetime as dt
import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from openpyxl import Workbook

from linli.core.jobs import registered_jobs
from linli.core.roles import Role
from linli.core.testing.factories import make_id_number, make_user
from linli.people import imports, spreadsheets
from linli.people.models import ImportJob, ImportStatus, Person
from linli.people.tasks import fail_stale_imports

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 40_000


def _large_workbook() -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(spreadsheets.sheet_title(spreadsheets.PERSONS))
    ws.append([str(c.label) for c in spreadsheets.PERSON_COLUMNS])
    for i in range(ROWS):
        number = make_id_number(birth=dt.date(1960 + i % 40, 1 + i % 12, 1 + i % 28))
        ws.append(["H1", "子女", f"人{i}", number, "", "", "", "", "", "", "", ""])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


class WorkerDatabase:
    """The test database as another process sees it."""

    def __init__(self, tmp_path: Path) -> None:
        self.sqlite = connection.vendor == "sqlite"
        self.file = tmp_path / "worker.sqlite3"

    def url(self) -> str:
        if self.sqlite:
            connection.ensure_connection()
            target = sqlite3.connect(self.file)
            connection.connection.backup(target)
            target.close()
            return f"sqlite:///{self.file}"
        s = connection.settings_dict
        password = f":{s['PASSWORD']}" if s["PASSWORD"] else ""
        port = f":{s['PORT']}" if s["PORT"] else ""
        return f"postgresql://{s['USER']}{password}@{s['HOST']}{port}/{s['NAME']}"

    def job(self, job_id: int) -> tuple[str, int]:
        if not self.sqlite:
            job = ImportJob.objects.get(pk=job_id)
            return job.status, job.processed_rows
        with sqlite3.connect(self.file, timeout=30) as db:
            row = db.execute(
                "SELECT status, processed_rows FROM people_importjob WHERE id = ?", [job_id]
            ).fetchone()
        return row[0], row[1]

    def copy_back(self) -> None:
        if self.sqlite:
            source = sqlite3.connect(self.file)
            source.backup(connection.connection)
            source.close()


def test_a_killed_worker_leaves_a_failed_import_not_a_stuck_one(town, tmp_path):
    importer = make_user("importer", Role.COMMUNITY_WORKER, [town.community])
    job = imports.import_job_create(
        actor=importer, upload=SimpleUploadedFile("big.xlsx", _large_workbook()), mode="good_rows"
    )
    database = WorkerDatabase(tmp_path)
    env = {
        **os.environ,
        "DATABASE_URL": database.url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "SECRET_KEY": "dev-test",
    }
    worker = subprocess.Popen(
        # No reloader: under DEBUG it runs the worker in a child that SIGKILL would orphan.
        [
            str(Path(sys.executable).parent / "linli"),
            "db_worker",
            "--no-startup-delay",
            "--no-reload",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status, processed = database.job(job.pk)
            if status == ImportStatus.VALIDATING and processed >= 1000:
                break
            assert worker.poll() is None, "the worker stopped before it was killed"
            time.sleep(0.05)
        else:
            pytest.fail("the worker never reported progress")
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    database.copy_back()

    job.refresh_from_db()
    assert job.status == ImportStatus.VALIDATING
    assert 1000 <= job.processed_rows < ROWS
    assert job.percent < 100 and job.heartbeat_at is not None

    # Minutes of silence may still be a slow load: the job is left alone.
    with time_machine.travel(job.heartbeat_at + dt.timedelta(minutes=5), tick=False):
        assert fail_stale_imports.call() == 0
    job.refresh_from_db()
    assert job.status == ImportStatus.VALIDATING

    with time_machine.travel(
        job.heartbeat_at + imports.STALE_AFTER + dt.timedelta(minutes=1), tick=False
    ):
        assert fail_stale_imports.call() == 1
        assert fail_stale_imports.call() == 0  # once
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED and job.finished
    assert "worker running it was interrupted" in job.failure
    assert not Person.objects.exists()


def test_the_detection_is_a_registered_periodic_job():
    jobs = {job.name: job for job in registered_jobs()}
    assert jobs[fail_stale_imports.module_path].every <= imports.STALE_AFTER
