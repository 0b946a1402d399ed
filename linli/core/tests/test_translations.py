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
