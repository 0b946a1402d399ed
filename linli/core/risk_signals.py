"""Hardship signals (风险信号) that capabilities feed to monitoring, registered without monitoring
knowing them.

A capability that sees signs of hardship (the cases loop: requests for help with the elderly or
disabled; eldercare: repeated alarms) adds a module `<app>/risk_signals.py` that subclasses
`Provider` and calls `register()`. The monitoring app imports every such module at start-up
(`MonitoringConfig.ready`) and a periodic job (monitoring/signals_tasks.py, hourly) asks each
provider for what happened since its last run and stores it as `monitoring.Signal` rows, which
the risk rules read ("repeated hardship signals"). The interface lives here in `core` so that
capabilities depend only on the base, never on monitoring.

Writing a provider (eldercare, say — `linli/eldercare/risk_signals.py`)::

    from linli.core import risk_signals

    class Alarms(risk_signals.Provider):
        name = "eldercare"  # a monitoring SignalSource value: the signals' source

        def signals(self, since, until):
            # SET-BASED: one queryset (or a few batched queries), never a query per row.
            rows = Alarm.objects.filter(raised_at__lt=until, person__household__isnull=False)
            if since is not None:
                rows = rows.filter(raised_at__gte=since)
            return (
                risk_signals.RiskSignal(
                    household_id=a["person__household_id"],
                    person_id=a["person_id"],
                    kind="alarm",  # a monitoring SignalKind value
                    occurred_on=a["raised_at"].date(),
                    amount=None,
                    details={"alarm": a["id"]},
                    key=f"alarm:{a['id']}",
                )
                for a in rows.values("id", "person_id", "person__household_id", "raised_at")
                .iterator(chunk_size=2000)
            )

    risk_signals.register(Alarms())

Rules of the interface:
- `since` is None on the first run (everything the provider still holds), later the end of the
  previous window less a small overlap; `until` is the end of this window. Reading a signal
  twice is harmless: `key` (unique within the provider) makes storing it idempotent.
- `kind` is a `monitoring.SignalKind` value, `name` a `monitoring.SignalSource` value (add a
  choice there for a new source); rows of unknown kinds, negative amounts or no household are
  skipped with a warning in the log.
- Feeders that act in-process at the moment they see the hardship may instead call
  `linli.monitoring.signals.signal_record(...)` (idempotent by the same key).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, NamedTuple


class RiskSignal(NamedTuple):
    """One hardship signal about a household. A plain tuple in this field order works too, so
    a provider may return `queryset.values_list(...)` directly."""

    household_id: int
    person_id: int | None
    kind: str
    occurred_on: dt.date
    amount: Decimal | None
    details: dict[str, Any]
    key: str  # unique within the provider; the stored key is "<provider name>:<key>"


class Provider:
    """One capability's source of hardship signals."""

    name = ""  # the signals' source, a monitoring SignalSource value ("cases", "eldercare")

    def signals(self, since: dt.datetime | None, until: dt.datetime) -> Iterable[tuple]:
        """The signals that arose from `since` (None: from the beginning) until `until`, as
        RiskSignal tuples; set-based (a queryset's values, or batched queries)."""
        return ()


_providers: dict[str, Provider] = {}


def register(provider: Provider) -> Provider:
    if not provider.name or ":" in provider.name or len(provider.name) > 12:
        raise ValueError(
            f"a signal provider needs a name of at most 12 characters without colons: "
            f"{provider.name!r}"
        )
    _providers[provider.name] = provider
    return provider


def providers() -> list[Provider]:
    return list(_providers.values())
