from django.urls import path

from . import views

app_name = "places"
urlpatterns = [
    path("", views.tree, name="tree"),
    path("<int:place_id>/", views.detail, name="detail"),
    path("<int:place_id>/children/", views.children, name="children"),
    path("<int:place_id>/edit/", views.edit, name="edit"),
]
