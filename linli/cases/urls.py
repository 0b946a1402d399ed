from django.urls import path

from . import views

app_name = "cases"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("report/", views.report, name="report"),
    path("<int:case_id>/", views.detail, name="detail"),
    path("<int:case_id>/act/", views.act, name="act"),
]
