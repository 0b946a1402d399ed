from django.urls import path

from . import views

# Not namespaced: every page links home as {% url 'home' %}.
urlpatterns = [
    path("", views.home, name="home"),
    path("workbench/", views.todo_list, name="workbench_list"),
]
