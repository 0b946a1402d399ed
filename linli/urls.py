from django.contrib import admin
from django.urls import include, path

from linli.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("places/", include("linli.places.urls")),
    path("people/", include("linli.people.urls")),
    path("open311/v2/", include("linli.cases.open311_urls")),
    path("cases/", include("linli.cases.urls")),
    path("assistance/", include("linli.assistance.urls")),
    path("monitoring/", include("linli.monitoring.urls")),
    path("", include("linli.workbench.urls")),
    path("", include("linli.core.urls")),
]
