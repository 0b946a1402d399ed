import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from linli.cases.models import Category, CategoryKind
from linli.cases.seeding import TAXONOMY_FILE, read_json
from linli.core.models import Department


def load(*args) -> str:
    out = io.StringIO()
    call_command("load_case_categories", *args, stdout=out)
    return out.getvalue()


def test_the_shipped_taxonomy_covers_the_method_and_is_complete(db):
    assert "63 created" in load()
    majors = set(Category.objects.filter(parent__isnull=True).values_list("name", flat=True))
    for name in (
        "公用设施", "道路交通", "市容环境", "园林绿化", "房屋土地", "宣传广告",
        "施工管理", "突发事件", "街面秩序", "矛盾纠纷", "民生诉求",
    ):  # fmt: skip
        assert name in majors
    minors = Category.objects.filter(parent__isnull=False)
    assert minors.filter(department__isnull=True).count() == 0
    assert all(c.name_en for c in Category.objects.all())
    assert set(Category.objects.values_list("kind", flat=True)) == set(CategoryKind.values)
    cover = Category.objects.get(code="BJ0101")
    assert (cover.parent.code, cover.department.code, cover.priority) == ("BJ01", "SWJ", 2)
    assert (cover.register_hours, cover.handle_hours) == (Decimal(1), Decimal(8))
    assert cover.anonymous_allowed and not cover.round_the_clock
    assert Category.objects.get(code="SJ0403").round_the_clock  # gas leak: clock hours
    assert not Category.objects.get(code="MD0101").anonymous_allowed  # disputes need a party


def test_loading_again_keeps_what_administrators_tuned_unless_asked(db):
    load()
    departments = Department.objects.count()
    Category.objects.filter(code="SJ0101").update(handle_hours=Decimal(3))
    Department.objects.filter(code="CGJ").update(name="城市管理综合执法局")
    assert "0 created, 0 updated, 63 unchanged" in load()
    assert Category.objects.get(code="SJ0101").handle_hours == Decimal(3)
    assert "1 updated" in load("--update")
    assert Category.objects.get(code="SJ0101").handle_hours == Decimal(8)
    # Departments are matched by code and never renamed or duplicated.
    assert Department.objects.count() == departments
    assert Department.objects.get(code="CGJ").name == "城市管理综合执法局"


def test_a_broken_taxonomy_file_loads_nothing(db, tmp_path):
    data = read_json(TAXONOMY_FILE)
    data["majors"][1]["minors"][0]["limits"] = [1, 1]  # a stage missing
    bad = tmp_path / "bad.json"
    bad.write_text(__import__("json").dumps(data))
    with pytest.raises(CommandError, match="Cannot load"):
        load("--file", str(bad))
    assert not Category.objects.exists()
    with pytest.raises(CommandError):
        load("--file", str(tmp_path / "missing.json"))
