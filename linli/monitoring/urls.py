from .pages import keys, overview, screening, signals, visits

app_name = "monitoring"
urlpatterns = [
    *overview.urlpatterns,
    *screening.urlpatterns,
    *signals.urlpatterns,
    *visits.urlpatterns,
    *keys.urlpatterns,
]
