from django.urls import path

from . import statistics_views, views

app_name = "cases"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("report/", views.report, name="report"),
    path("mine/", views.mine, name="mine"),
    path("statistics/", statistics_views.statistics_page, name="statistics"),
    path("statistics/export/", statistics_views.statistics_export, name="statistics_export"),
    path("map/", statistics_views.open_cases_map, name="map"),
    path("<int:case_id>/", views.detail, name="detail"),
    path("<int:case_id>/act/", views.act, name="act"),
    path("<int:case_id>/photos/", views.photo_add, name="photo_add"),
    path("<int:case_id>/publish/", views.publish, name="publish"),
]
