import datetime as dt
import zoneinfo

import pytest
import time_machine

from linli.cases.models import Category
from linli.cases.seeding import load_reference_data
from linli.core import workdays

# A Wednesday morning in working hours, China time.
NOW = dt.datetime(2026, 6, 3, 10, 0, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai"))


@pytest.fixture(autouse=True)
def frozen():
    """Deadlines, warnings and "today" all read the clock: every test here stops it."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def taxonomy(db):
    load_reference_data()
    workdays.reset()
    yield {c.code: c for c in Category.objects.all()}
    workdays.reset()
