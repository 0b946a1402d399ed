import time

from django.db import transaction

from linli.core.refcache import ProcessCache


def _counting_cache(seconds: float) -> tuple[ProcessCache, list[int]]:
    builds: list[int] = []

    def build() -> int:
        builds.append(len(builds) + 1)
        return builds[-1]

    return ProcessCache(build, seconds=seconds), builds


def test_the_value_is_built_once_until_it_expires(monkeypatch):
    cache, builds = _counting_cache(seconds=60)
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now)
    assert (cache.get(), cache.get()) == (1, 1)
    now += 61
    assert cache.get() == 2 and builds == [1, 2]


def test_a_change_clears_it_now_and_after_the_commit(db, django_capture_on_commit_callbacks):
    cache, builds = _counting_cache(seconds=60)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        cache.get()
        cache.changed()
        assert cache.get() == 2  # rebuilt at once in this process ...
    # ... and once more when the change is committed
    assert cache.get() == 3 and builds == [1, 2, 3]
