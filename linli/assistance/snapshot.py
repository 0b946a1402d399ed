"""Household snapshots for the eligibility engine: from the registry (`household_snapshot`) or
from an API payload (`snapshot_from_payload`). The engine itself reads no database."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.db.models import Q

from linli.people.models import (
    SELF_CARE_ITEMS,
    FinanceCategory,
    FinancialRecord,
    Household,
    LegalSupporter,
    Person,
    SelfCareAssessment,
    SeriousIllness,
)

from .engine import (
    Asset,
    CareArrangement,
    Expenditure,
    HouseholdSnapshot,
    Illness,
    Income,
    Member,
    SelfCare,
    Supporter,
    add_months,
)


def window_start(on: dt.date) -> dt.date:
    """First day of the 12 calendar months ending with the month of `on` (the period the
    rigid-expenditure test looks at)."""
    return add_months(on.replace(day=1), -11)


def household_snapshot(household: Household, on: dt.date) -> HouseholdSnapshot:
    """The household's members with their records as the engine needs them on `on`, in five
    queries whatever the household's size (see `household_snapshots`)."""
    return household_snapshots([household], on)[household.pk]


def household_snapshots(
    households: Iterable[Household], on: dt.date
) -> dict[int, HouseholdSnapshot]:
    """Snapshots of many households at once, by household id, in five queries whatever their
    number and size: persons; income, asset and expenditure records of the 12 months; serious
    illnesses; self-care assessments; legal supporters. Voided records are left out; a
    registered supporter who has died counts as unable to support. Callers chunk the
    households (a thousand or so) to bound memory and the size of the id lists."""
    by_id = {household.pk: household for household in households}
    persons = list(Person.objects.filter(household_id__in=list(by_id)).order_by("id"))
    ids = [person.pk for person in persons]
    first = window_start(on)

    finances: dict[int, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    records = FinancialRecord.objects.filter(
        Q(valid_to__isnull=True) | Q(valid_to__gte=first),
        person_id__in=ids,
        voided_at__isnull=True,
        valid_from__lte=on,
    ).order_by("valid_from", "id")
    for record in records:
        bucket = finances[record.person_id]
        if record.category == FinanceCategory.INCOME:
            bucket["incomes"].append(
                Income(
                    record.kind,
                    record.amount,
                    record.valid_from,
                    record.valid_to,
                    record.new_employment,
                )
            )
        elif record.category == FinanceCategory.ASSET:
            bucket["assets"].append(
                Asset(record.kind, record.amount, record.valid_from, record.valid_to)
            )
        else:
            bucket["expenditures"].append(
                Expenditure(record.kind, record.amount, record.valid_from, record.valid_to)
            )

    illnesses: dict[int, list[Illness]] = defaultdict(list)
    for illness in SeriousIllness.objects.filter(
        person_id__in=ids, voided_at__isnull=True, diagnosed_on__lte=on
    ).order_by("diagnosed_on", "id"):
        illnesses[illness.person_id].append(
            Illness(illness.illness, illness.diagnosed_on, illness.ended_on)
        )

    # The latest assessment on or before the date, per person.
    self_care: dict[int, SelfCare] = {}
    for assessment in SelfCareAssessment.objects.filter(
        person_id__in=ids, voided_at__isnull=True, assessed_on__lte=on
    ).order_by("person_id", "-assessed_on", "-id"):
        if assessment.person_id not in self_care:
            self_care[assessment.person_id] = SelfCare(
                assessed_on=assessment.assessed_on,
                assessor=assessment.assessor,
                **{item: getattr(assessment, item) for item in SELF_CARE_ITEMS},
            )

    supporters: dict[int, list[Supporter]] = defaultdict(list)
    for link in (
        LegalSupporter.objects.filter(person_id__in=ids, voided_at__isnull=True)
        .select_related("supporter")
        .order_by("id")
    ):
        able = link.able_to_support
        name = link.supporter_name
        if link.supporter is not None:
            name = link.supporter.name
            died = link.supporter.died_on
            if died is not None and died <= on:
                able = False
        supporters[link.person_id].append(Supporter(link.relation, able, name, link.assessment))

    members: dict[int, list[Member]] = defaultdict(list)
    for person in persons:
        members[person.household_id].append(
            Member(
                key=str(person.pk),
                name=person.name,
                birth_date=person.birth_date,
                relation=person.relation,
                status=person.status,
                died_on=person.died_on,
                work_capacity=person.work_capacity,
                disability_category=person.disability_category,
                disability_grade=person.disability_grade,
                illnesses=tuple(illnesses[person.pk]),
                self_care=(self_care[person.pk],) if person.pk in self_care else (),
                supporters=tuple(supporters[person.pk]),
                incomes=tuple(finances[person.pk]["incomes"]),
                assets=tuple(finances[person.pk]["assets"]),
                expenditures=tuple(finances[person.pk]["expenditures"]),
            )
        )
    return {
        pk: HouseholdSnapshot(
            members=tuple(members[pk]),
            registration=household.registration,
            household_id=pk,
            number=household.number,
            place_path=household.place_path,
        )
        for pk, household in by_id.items()
    }


def _decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def snapshot_from_payload(payload: Mapping[str, Any]) -> HouseholdSnapshot:
    """A snapshot from the API's validated household (AssessHousehold.model_dump()): members
    with their facts and records. Records without dates hold from the member's birth on, so
    a payload may give only what holds now."""
    members = []
    for index, item in enumerate(payload["members"]):
        birth = item["birth_date"]
        key = str(item.get("key") or f"m{index + 1}")

        def since(record: Mapping[str, Any], _birth: dt.date = birth) -> dt.date:
            return record.get("valid_from") or _birth

        members.append(
            Member(
                key=key,
                name=item["name"],
                birth_date=birth,
                relation=item.get("relation") or "",
                status=item.get("status") or "active",
                died_on=item.get("died_on"),
                work_capacity=item.get("work_capacity") or "",
                disability_category=item.get("disability_category") or "",
                disability_grade=item.get("disability_grade"),
                illnesses=tuple(
                    Illness(i["illness"], i.get("diagnosed_on") or birth, i.get("ended_on"))
                    for i in item.get("illnesses") or ()
                ),
                self_care=tuple(
                    SelfCare(
                        assessed_on=s["assessed_on"],
                        assessor=s.get("assessor") or "",
                        **{name: bool(s[name]) for name in SELF_CARE_ITEMS},
                    )
                    for s in item.get("self_care") or ()
                ),
                supporters=tuple(
                    Supporter(
                        s["relation"],
                        bool(s["able_to_support"]),
                        s.get("name") or "",
                        s.get("assessment") or "",
                    )
                    for s in item.get("supporters") or ()
                ),
                incomes=tuple(
                    Income(
                        r["kind"],
                        _decimal(r["amount"]),
                        since(r),
                        r.get("valid_to"),
                        bool(r.get("new_employment")),
                    )
                    for r in item.get("incomes") or ()
                ),
                assets=tuple(
                    Asset(r["kind"], _decimal(r.get("amount") or 0), since(r), r.get("valid_to"))
                    for r in item.get("assets") or ()
                ),
                expenditures=tuple(
                    Expenditure(r["kind"], _decimal(r["amount"]), since(r), r.get("valid_to"))
                    for r in item.get("expenditures") or ()
                ),
            )
        )
    return HouseholdSnapshot(
        members=tuple(members),
        registration=payload.get("registration") or "urban",
        care_arrangement=payload.get("care_arrangement") or CareArrangement.DISPERSED,
    )
