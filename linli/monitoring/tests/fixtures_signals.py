"""Fixtures of the signal tests: a street officer who imports (street A: `people.household`
is theirs, `people.other_household` is not), a frozen clock, and file builders."""

from __future__ import annotations

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import load_workbook

from linli.core.roles import Role
from linli.core.testing.factories import make_user
from linli.monitoring import signals

NOW = dt.datetime(2026, 6, 15, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
TODAY = NOW.date()


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def importer(town):
    """Street A's officer: imports external signals (monitoring.import) for street A only."""
    return make_user("signalofficer", Role.STREET_OFFICER, [town.street])


def xlsx(rows, *, header=None) -> bytes:
    """The downloaded template, filled in like a user would (header replaced if given)."""
    wb = load_workbook(io.BytesIO(signals.template_workbook()))
    ws = wb.worksheets[1]
    if header is not None:
        for index in range(1, ws.max_column + 1):
            ws.cell(row=1, column=index).value = None
        for index, text in enumerate(header, start=1):
            ws.cell(row=1, column=index).value = text
    for row in rows:
        ws.append(list(row))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def csv_bytes(rows, *, encoding="utf-8-sig", header=("ID number", "kind", "date", "amount (yuan)")):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
    return out.getvalue().encode(encoding)


def upload(content: bytes, name="signals.xlsx") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def import_now(actor, content: bytes, name="signals.xlsx"):
    """Start the import and run it as the worker would."""
    job = signals.signal_import_start(actor=actor, uploaded_file=upload(content, name))
    return signals.signal_import_run(import_id=job.pk)
