from .pages import (
    applications,
    assess,
    benefits,
    payments,
    policies,
    simulations,
    supervision,
)

app_name = "assistance"
urlpatterns = [
    *assess.urlpatterns,
    *policies.urlpatterns,
    *applications.urlpatterns,
    *benefits.urlpatterns,
    *payments.urlpatterns,
    *supervision.urlpatterns,
    *simulations.urlpatterns,
]
