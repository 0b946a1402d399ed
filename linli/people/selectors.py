"""Reads of the registry, always through the actor's jurisdiction."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import CharField, Count, F, Q, QuerySet
from django.db.models.functions import Cast
from django.utils.translation import gettext_lazy as _

from linli.core.masking import mask_name
from linli.core.models import AuditEntry, User
from linli.core.scoping import under_any
from linli.places.models import Place

from .models import (
    ELDERLY_AGE,
    SELF_CARE_ITEMS,
    BankAccount,
    FinancialRecord,
    Household,
    LegalSupporter,
    Person,
    RecordStatus,
    SelfCareAssessment,
    SeriousIllness,
    TransferRequest,
    street_path_of,
    years_ago,
)


@dataclass(frozen=True)
class PersonFilter:
    """What a person search may say. Every field optional; all given ones must hold."""

    place_id: int | None = None
    name: str = ""
    id_ending: str = ""
    address: str = ""
    tag: str = ""
    household_id: int | None = None
    status: str = RecordStatus.ACTIVE


@dataclass(frozen=True)
class HouseholdFilter:
    place_id: int | None = None
    number: str = ""
    address: str = ""
    registration: str = ""
    status: str = RecordStatus.ACTIVE


def _place_path(actor: User, place_id: int | None) -> str | None:
    if place_id is None:
        return None
    place = Place.objects.filter(pk=place_id).only("path").first()
    # A missing place narrows to nothing ("": callers answer none); a place outside the
    # jurisdiction narrows to nothing through `restrict`, the same answer.
    return place.path if place else ""


def person_list(actor: User, f: PersonFilter | None = None) -> QuerySet[Person]:
    f = f or PersonFilter()
    qs = Person.objects.restrict(actor)
    path = _place_path(actor, f.place_id)
    if path == "":
        return qs.none()
    if path is None and len(actor.scope_paths) == 1 and not actor.sees_everything:
        path = actor.scope_paths[0]
    if path is not None:
        qs = qs.filter(place_path__under=path)
        street = street_path_of(path)
        if street:
            # Implied by the path; lets the planner use the (street, name) index.
            qs = qs.filter(street_path=street)
    if f.name.strip():
        qs = qs.filter(name__startswith=f.name.strip())
    if f.id_ending.strip():
        qs = qs.id_ending(f.id_ending.strip())
    if f.address.strip():
        qs = qs.filter(household__address__contains=f.address.strip())
    if f.tag:
        qs = qs.tagged(f.tag)
    if f.household_id is not None:
        qs = qs.filter(household_id=f.household_id)
    if f.status:
        qs = qs.filter(status=f.status)
    return qs.select_related("household").order_by("name", "id")


def household_list(actor: User, f: HouseholdFilter | None = None) -> QuerySet[Household]:
    f = f or HouseholdFilter()
    qs = Household.objects.restrict(actor)
    path = _place_path(actor, f.place_id)
    if path == "":
        return qs.none()
    if path is not None:
        qs = qs.filter(place_path__under=path)
    if f.number.strip():
        qs = qs.filter(number__startswith=f.number.strip())
    if f.address.strip():
        qs = qs.filter(address__contains=f.address.strip())
    if f.registration:
        qs = qs.filter(registration=f.registration)
    if f.status:
        qs = qs.filter(status=f.status)
    return qs.select_related("building").order_by("number")


def area_figures(*, actor: User, place_path: str) -> dict[str, int]:
    """Active households and residents under a place of the jurisdiction, with the elderly,
    those living alone and the disabled among them: two indexed queries on the path."""
    elderly_born_before = years_ago(ELDERLY_AGE)
    persons = (
        Person.objects.restrict(actor)
        .filter(place_path__under=place_path, status=RecordStatus.ACTIVE)
        .aggregate(
            residents=Count("id"),
            elderly=Count("id", filter=Q(birth_date__lte=elderly_born_before)),
            living_alone=Count("id", filter=Q(living_alone=True)),
            disabled=Count("id", filter=~Q(disability_category="")),
        )
    )
    households = (
        Household.objects.restrict(actor)
        .filter(place_path__under=place_path, status=RecordStatus.ACTIVE)
        .count()
    )
    return {"households": households, **persons}


def own_household(*, actor: User) -> tuple[Person | None, list[Person]]:
    """A resident's own registry entry and the members of their household (the account is
    linked to at most one person by the community office)."""
    me = Person.objects.filter(account=actor).select_related("household").first()
    if me is None or me.household_id is None:
        return me, []
    members = Person.objects.filter(household_id=me.household_id)
    return me, list(members.order_by("-relation", "birth_date"))


def person_get_for(actor: User, person_id: int) -> Person:
    return Person.objects.select_related("household", "household__building").get_for(
        actor, person_id
    )


def household_get_for(actor: User, household_id: int) -> Household:
    return Household.objects.select_related("building").get_for(actor, household_id)


def household_members(actor: User, household: Household) -> QuerySet[Person]:
    return (
        Person.objects.restrict(actor)
        .filter(household=household)
        .order_by("-relation", "birth_date")
    )


def _records_of(model, actor: User, person: Person, include_void: bool) -> QuerySet:
    """A person's records of a voidable kind the actor may see, voided ones on request."""
    qs = model.objects.restrict(actor).filter(person=person)
    return qs if include_void else qs.current()


def financial_records_for(actor: User, person: Person, *, include_void: bool = False):
    return _records_of(FinancialRecord, actor, person, include_void)


def history_for(actor: User, instance) -> QuerySet[AuditEntry]:
    """A record's history, for anyone who may see the record (the caller fetched it scoped)."""
    return AuditEntry.objects.for_object(instance).select_related("actor")


# Current facts before voided ones, on both databases (PostgreSQL sorts NULLs last).
CURRENT_FIRST = F("voided_at").asc(nulls_first=True)

# Rows about one person whose history shows on the person's page.
PERSON_RECORD_MODELS = (
    FinancialRecord,
    SeriousIllness,
    SelfCareAssessment,
    LegalSupporter,
    BankAccount,
)


def person_history(actor: User, person: Person) -> QuerySet[AuditEntry]:
    """The person's own entries and those of their income, asset and expenditure records and
    assistance facts (illnesses, self-care, supporters, bank accounts), and of their being
    named someone's legal supporter: one query."""
    condition = Q(object_type=person._meta.label_lower, object_id=str(person.pk))
    as_text = Cast("pk", output_field=CharField())
    for model in PERSON_RECORD_MODELS:
        ids = model.objects.filter(person=person).values_list(as_text, flat=True)
        condition |= Q(object_type=model._meta.label_lower, object_id__in=ids)
    supporting = LegalSupporter.objects.filter(supporter=person).values_list(as_text, flat=True)
    condition |= Q(object_type=LegalSupporter._meta.label_lower, object_id__in=supporting)
    # The copy filed at an outside supporter's place (services.legal_supporter_add) is for
    # that office's audit log; here it would repeat the entry.
    copies = Q(
        object_type=LegalSupporter._meta.label_lower, changes__has_key="registered_elsewhere"
    )
    return (
        AuditEntry.objects.filter(condition)
        .exclude(copies)
        .select_related("actor")
        .order_by("-at", "-id")
    )


@dataclass(frozen=True)
class SupporterRow:
    """A legal supporter as the actor may see them: a registered supporter outside the actor's
    jurisdiction by masked name only, and without a link."""

    fact: LegalSupporter
    name: str
    in_registry: bool
    visible_person_id: int | None


# The six self-care items by name, for saying which ones a person does not manage.
SELF_CARE_ITEM_LABELS = {
    "eating": _("eating"),
    "dressing": _("dressing"),
    "bed_transfer": _("getting in and out of bed"),
    "toileting": _("using the toilet"),
    "indoor_walking": _("walking indoors"),
    "bathing": _("bathing"),
}


def self_care_not_managed(assessment: SelfCareAssessment) -> list[str]:
    return [
        str(SELF_CARE_ITEM_LABELS[item])
        for item in SELF_CARE_ITEMS
        if not getattr(assessment, item)
    ]


@dataclass(frozen=True)
class SelfCareRow:
    fact: SelfCareAssessment
    not_managed: list[str]


@dataclass(frozen=True)
class PersonFacts:
    """What the person page and the API show of the facts assistance cites."""

    illnesses: list[SeriousIllness]
    self_care: list[SelfCareRow]
    supporters: list[SupporterRow]
    bank_accounts: list[BankAccount]

    @property
    def latest_self_care(self) -> SelfCareAssessment | None:
        return next((r.fact for r in self.self_care if r.fact.voided_at is None), None)

    @property
    def bank_account(self) -> BankAccount | None:
        return next((a for a in self.bank_accounts if a.voided_at is None), None)


def illnesses_for(actor: User, person: Person, *, include_void: bool = False):
    return _records_of(SeriousIllness, actor, person, include_void)


def self_care_for(actor: User, person: Person, *, include_void: bool = False):
    return _records_of(SelfCareAssessment, actor, person, include_void)


def bank_accounts_for(actor: User, person: Person, *, include_void: bool = False):
    return _records_of(BankAccount, actor, person, include_void)


def supporters_for(
    actor: User, person: Person, *, include_void: bool = False
) -> list[SupporterRow]:
    """Two queries: the supporters, and which of those registered the actor may open."""
    qs = (
        LegalSupporter.objects.restrict(actor)
        .filter(person=person)
        .select_related("supporter")
        .order_by(CURRENT_FIRST, "id")
    )
    return supporter_rows(actor, list(qs if include_void else qs.current()))


def supporter_rows(actor: User, facts: list[LegalSupporter]) -> list[SupporterRow]:
    linked = {f.supporter_id for f in facts if f.supporter_id}
    visible = (
        set(Person.objects.restrict(actor).filter(pk__in=linked).values_list("pk", flat=True))
        if linked
        else set()
    )
    rows = []
    for fact in facts:
        if fact.supporter_id is None:
            rows.append(SupporterRow(fact, fact.supporter_name, False, None))
        elif fact.supporter_id in visible:
            rows.append(SupporterRow(fact, fact.supporter.name, True, fact.supporter_id))
        else:
            rows.append(SupporterRow(fact, mask_name(fact.supporter.name), True, None))
    return rows


def person_facts(actor: User, person: Person) -> PersonFacts:
    """Every fact of the person, voided ones included (shown struck through)."""
    return PersonFacts(
        illnesses=list(
            illnesses_for(actor, person, include_void=True).order_by(
                CURRENT_FIRST, "-diagnosed_on", "-id"
            )
        ),
        self_care=[
            SelfCareRow(a, self_care_not_managed(a))
            for a in self_care_for(actor, person, include_void=True)
        ],
        supporters=supporters_for(actor, person, include_void=True),
        bank_accounts=list(bank_accounts_for(actor, person, include_void=True)),
    )


def transfer_requests_to_answer(actor: User) -> QuerySet[TransferRequest]:
    """Pending requests for persons the actor's office holds (and may change)."""
    return (
        TransferRequest.objects.restrict(actor, "change")
        .pending()
        .select_related("person", "household", "requested_by")
    )


def transfer_requests_sent(actor: User) -> QuerySet[TransferRequest]:
    """Requests filed from the actor's jurisdiction, with their answers; where the person was
    registered is not part of them."""
    qs = TransferRequest.objects.restrict(actor)
    if not actor.sees_everything:
        qs = qs.filter(under_any(actor.scope_paths, "requester_path"))
    return qs.select_related("person", "household")
