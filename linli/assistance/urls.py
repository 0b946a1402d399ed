from .pages import applications, assess, payments, policies, simulations, supervision

app_name = "assistance"
urlpatterns = [
    *assess.urlpatterns,
    *policies.urlpatterns,
    *applications.urlpatterns,
    *payments.urlpatterns,
    *supervision.urlpatterns,
    *simulations.urlpatterns,
]
