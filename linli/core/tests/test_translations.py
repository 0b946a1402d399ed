"""zh-Hans is the default language: every message has a translation, and the compiled
catalogue matches its source."""

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
