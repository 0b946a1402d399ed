"""The cases loop's hardship signals (see linli.core.risk_signals): every hardship-related case
becomes a HARDSHIP_CASE signal about the household it comes from, so that monitoring's
"repeated hardship signals" rule sees a household that keeps asking for help.

Which cases count: those in the categories of `HARDSHIP_CATEGORIES` (data, below; a deployment
may replace the list with the setting `LINLI_HARDSHIP_CASE_CATEGORIES`). From the taxonomy
(taxonomy.json): MS0104 养老助残 (help for the elderly or disabled) and MD0104 劳资纠纷 (unpaid
wages: a household losing its income). Other livelihood requests (heating, noise, supply) are
complaints about the city, not signs of a household's hardship. Rejected reports (不予立案) and
duplicates merged into another case are left out.

Which household: a case has no household field, only a reporter and a grid. So:
- a resident's own report (source "resident"): the reporter's account → their registered
  person → that person's household;
- any other report with a caller's phone (12345 hotline, a patrol noting who asked): the
  household of the registered person with that phone living in the case's grid — only when
  exactly one household there has it (a phone shared across households names nobody).
A case matching neither names no household and yields nothing.

Set-based: the resident route is one query; the phone route reads cases in batches and looks
up each batch's phones in one query.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from linli.core import risk_signals
from linli.core.scoping import under_any
from linli.people.models import Person

from .models import Case, CaseState, Source

HARDSHIP_CATEGORIES = (
    "MS0104",  # 养老助残 Help for the elderly or disabled
    "MD0104",  # 劳资纠纷 Unpaid wages
)
HARDSHIP_CASE = "hardship_case"  # monitoring.SignalKind.HARDSHIP_CASE
BATCH = 1000


def hardship_categories() -> tuple[str, ...]:
    return tuple(getattr(settings, "LINLI_HARDSHIP_CASE_CATEGORIES", HARDSHIP_CATEGORIES))


def _signal(case: dict, household_id: int, person_id: int | None) -> risk_signals.RiskSignal:
    return risk_signals.RiskSignal(
        household_id=household_id,
        person_id=person_id,
        kind=HARDSHIP_CASE,
        occurred_on=timezone.localtime(case["reported_at"]).date(),
        amount=None,
        details={"case": case["number"], "case_id": case["id"], "category": case["category__code"]},
        key=f"case:{case['id']}",
    )


class HardshipCases(risk_signals.Provider):
    name = "cases"

    def _cases(self, since: dt.datetime | None, until: dt.datetime):
        cases = Case.objects.filter(
            category__code__in=hardship_categories(),
            reported_at__lt=until,
            merged_into__isnull=True,
        ).exclude(state=CaseState.REJECTED)
        if since is not None:
            cases = cases.filter(reported_at__gte=since)
        return cases

    def signals(self, since: dt.datetime | None, until: dt.datetime) -> Iterator[tuple]:
        cases = self._cases(since, until)
        fields = ("id", "number", "reported_at", "category__code")
        own = Q(source=Source.RESIDENT, reporter__person__household__isnull=False)
        for case in (
            cases.filter(own)
            .values(*fields, "reporter__person__id", "reporter__person__household_id")
            .order_by("id")
            .iterator(chunk_size=2000)
        ):
            yield _signal(
                case, case["reporter__person__household_id"], case["reporter__person__id"]
            )
        by_phone = (
            cases.exclude(own)
            .exclude(reporter_phone="")
            .values(*fields, "reporter_phone", "place_path")
            .order_by("id")
        )
        batch: list[dict] = []
        for case in by_phone.iterator(chunk_size=BATCH):
            batch.append(case)
            if len(batch) == BATCH:
                yield from self._match_phones(batch)
                batch = []
        if batch:
            yield from self._match_phones(batch)

    def _match_phones(self, batch: list[dict]) -> Iterator[tuple]:
        """One query for the batch's phones; a case names the one household of its grid that
        has a person with its phone."""
        found: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
        grids = sorted({c["place_path"] for c in batch})
        for phone, path, person_id, household_id in (
            Person.objects.filter(under_any(grids))  # served by the place-path index
            .filter(
                phone__in={c["reporter_phone"] for c in batch},
                household__isnull=False,
                status="active",
            )
            .values_list("phone", "place_path", "id", "household_id")
        ):
            found[phone].append((path, person_id, household_id))
        for case in batch:
            matches = [
                (person_id, household_id)
                for path, person_id, household_id in found.get(case["reporter_phone"], ())
                if path.startswith(case["place_path"])
            ]
            if len({household_id for _p, household_id in matches}) == 1:
                person_id, household_id = matches[0]
                yield _signal(case, household_id, person_id)


risk_signals.register(HardshipCases())
