from django.urls import path

from . import fact_views, spreadsheet_views, views

app_name = "people"
urlpatterns = [
    path("persons/", views.persons, name="persons"),
    path("persons/<int:person_id>/", views.person_detail, name="person_detail"),
    path("persons/<int:person_id>/edit/", views.person_edit, name="person_edit"),
    path("persons/<int:person_id>/reveal/", views.person_reveal, name="person_reveal"),
    path("persons/<int:person_id>/status/", views.person_status, name="person_status"),
    path("persons/<int:person_id>/finances/", views.finance_new, name="finance_new"),
    path("finances/<int:record_id>/void/", views.finance_void, name="finance_void"),
    path("check-id-number/", views.check_id_number, name="check_id_number"),
    path("transfers/", views.transfers, name="transfers"),
    path("transfers/<int:transfer_id>/accept/", views.transfer_accept, name="transfer_accept"),
    path("transfers/<int:transfer_id>/decline/", views.transfer_decline, name="transfer_decline"),
    path("households/", views.households, name="households"),
    path("households/new/", views.household_new, name="household_new"),
    path("households/<int:household_id>/", views.household_detail, name="household_detail"),
    path("households/<int:household_id>/edit/", views.household_edit, name="household_edit"),
    path("households/<int:household_id>/persons/new/", views.person_new, name="person_new"),
]

# Facts assistance decisions cite (see fact_views).
_person = "persons/<int:person_id>/"
urlpatterns += [
    path(_person + "work-capacity/", fact_views.work_capacity_set, name="work_capacity_set"),
    path(_person + "death/", fact_views.death_record, name="death_record"),
    path(_person + "illnesses/", fact_views.illness_new, name="illness_new"),
    path(_person + "self-care/", fact_views.self_care_new, name="self_care_new"),
    path(_person + "supporters/", fact_views.supporter_new, name="supporter_new"),
    path(_person + "bank-account/", fact_views.bank_account_set, name="bank_account_set"),
    path("illnesses/<int:fact_id>/void/", fact_views.illness_void, name="illness_void"),
    path("self-care/<int:fact_id>/void/", fact_views.self_care_void, name="self_care_void"),
    path("supporters/<int:fact_id>/void/", fact_views.supporter_void, name="supporter_void"),
    path(
        "bank-accounts/<int:fact_id>/void/", fact_views.bank_account_void, name="bank_account_void"
    ),
    path(
        "bank-accounts/<int:account_id>/reveal/",
        fact_views.bank_account_reveal,
        name="bank_account_reveal",
    ),
]

urlpatterns += [
    path("import/", spreadsheet_views.import_new, name="import_new"),
    path("import/template.xlsx", spreadsheet_views.import_template, name="import_template"),
    path("import/<int:job_id>/", spreadsheet_views.import_detail, name="import_detail"),
    path("import/<int:job_id>/errors.xlsx", spreadsheet_views.import_errors, name="import_errors"),
    path("export/persons.xlsx", spreadsheet_views.persons_export, name="persons_export"),
    path("export/households.xlsx", spreadsheet_views.households_export, name="households_export"),
]
