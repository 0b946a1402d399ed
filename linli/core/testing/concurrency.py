"""Races that only a database with real concurrent writers can show (PostgreSQL; modules of
races mark themselves `usefixtures("postgresql_only")`, a fixture of the root conftest)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from linli.core.errors import ApplicationError


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Start the calls at the same moment, each in its own thread and connection; each outcome
    is the call's result or the ApplicationError it raised."""
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def run(i: int, call: Callable[[], Any]) -> None:
        from django.db import connection as thread_connection

        barrier.wait()
        try:
            outcomes[i] = call()
        except ApplicationError as exc:
            outcomes[i] = exc
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes
