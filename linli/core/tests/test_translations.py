"""zh-Hans is the default language: every message has a translation, and the compiled
catalogue matches its source."""

import ast
import re
from pathlib import Path

import polib
import pytest
from django.utils import translation

LOCALE = Path(__file__).resolve().parents[2] / "locale" / "zh_Hans" / "LC_MESSAGES"


def test_every_message_is_translated():
    po = polib.pofile(str(LOCALE / "django.po"))
    missing = [e.msgid for e in po if not e.obsolete and (not e.translated() or e.fuzzy)]
    assert not missing, f"{len(missing)} untranslated, e.g. {missing[:5]}"


def test_compiled_catalogue_matches_the_source():
    po = polib.pofile(str(LOCALE / "django.po"))
    mo = polib.mofile(str(LOCALE / "django.mo"))
    compiled = {
        (e.msgctxt, e.msgid): (e.msgstr, tuple(sorted(e.msgstr_plural.items()))) for e in mo
    }
    for entry in po:
        if entry.obsolete:
            continue
        expected = (entry.msgstr, tuple(sorted(entry.msgstr_plural.items())))
        assert compiled.get((entry.msgctxt, entry.msgid)) == expected, (
            f"django.mo is stale for {entry.msgid!r}: run 'make messages'"
        )


@pytest.mark.parametrize(("language", "expected"), [("zh-hans", "网格员"), ("en", "Grid worker")])
def test_roles_are_named_in_the_active_language(language, expected):
    from linli.core.roles import Role

    with translation.override(language):
        assert str(Role.GRID_WORKER.label) == expected


_TEMPLATE_STRING = re.compile(r"""{%\s*translate\s+(["'])(.+?)\1""")
_GETTEXT_NAMES = {"_", "gettext", "gettext_lazy", "pgettext", "ngettext", "ngettext_lazy"}


def _source_messages() -> set[str]:
    """Literal messages in the code and templates: a cheap check that 'make messages' ran."""
    root = LOCALE.parents[2]
    found: set[str] = set()
    for path in root.rglob("*.py"):
        if "migrations" in path.parts or "tests" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in _GETTEXT_NAMES
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.add(node.args[0].value)
    for path in root.rglob("*.html"):
        found |= {m.group(2) for m in _TEMPLATE_STRING.finditer(path.read_text(encoding="utf-8"))}
    return found


def test_catalogue_has_every_message_of_the_sources():
    po = polib.pofile(str(LOCALE / "django.po"))
    known = {e.msgid for e in po if not e.obsolete}
    missing = sorted(_source_messages() - known)
    assert not missing, f"run 'make messages' and translate: {missing[:10]}"


GLOSSARY = LOCALE.parents[3] / "docs" / "glossary.md"


def _glossary() -> dict[tuple[str | None, str], str]:
    """(context, English term) → Chinese term, from the tables of docs/glossary.md."""
    terms: dict[tuple[str | None, str], str] = {}
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 3 or cells[0] in ("English", "---"):
            continue
        terms[(cells[1] or None, cells[0])] = cells[2]
    return terms


def _forms(term: str) -> list[str]:
    """The msgids a term also covers: capitalised, and plural."""
    plurals = [term + "s", term + "es"]
    if term.endswith("y"):
        plurals.append(term[:-1] + "ies")
    return [term[:1].upper() + term[1:], *plurals, *(p[:1].upper() + p[1:] for p in plurals)]


def test_the_glossary_covers_the_domain_and_reads_as_a_table():
    terms = _glossary()
    for english in ("household", "open", "kind", "Places", "Grid worker", "Register", "warning"):
        assert any(key[1] == english for key in terms), english
    assert terms[("person", "name")] == "姓名" and terms[(None, "name")] == "名称"


def test_translations_follow_the_glossary():
    terms = _glossary()
    expected: dict[tuple[str | None, str], tuple[str, str]] = {}
    for (context, term), chinese in terms.items():
        for form in _forms(term):
            expected.setdefault((context, form), (term, chinese))
    for (context, term), chinese in terms.items():  # a row written exactly wins
        expected[(context, term)] = (term, chinese)
    po = polib.pofile(str(LOCALE / "django.po"))
    wrong = [
        f"{e.msgid!r} is {e.msgstr!r}, the glossary says {expected[key][1]!r} ({expected[key][0]})"
        for e in po
        if not e.obsolete
        and e.msgstr
        and (key := (e.msgctxt, e.msgid)) in expected
        and e.msgstr != expected[key][1]
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("language", "brand"), [("zh-hans", ">邻里</a>"), ("en", ">Linli 邻里</a>")]
)
def test_the_header_names_the_product_once_in_each_language(client, db, language, brand):
    from django.conf import settings

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    html = client.get("/login/").content.decode()
    assert brand in html and "邻里 邻里" not in html


def test_a_persons_name_and_a_places_name_are_different_words():
    from linli.people.models import Person
    from linli.people.spreadsheets import PERSON_COLUMNS
    from linli.places.models import Place

    column = next(c for c in PERSON_COLUMNS if c.key == "name")
    with translation.override("zh-hans"):
        assert str(column.label) == str(Person._meta.get_field("name").verbose_name) == "姓名"
        assert str(Place._meta.get_field("name").verbose_name) == "名称"
    with translation.override("en"):
        assert str(column.label) == "Name"
