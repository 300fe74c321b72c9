"""The Korean catalogues: complete, and compiled (.mo) from exactly what the .po says.

No gettext tools are needed: templates are read with Django's own templatize, Python with ast,
and the .po files are compiled with polib.
"""

import ast
import json
import re
from pathlib import Path

import polib
import pytest
from django.utils.translation.template import templatize

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "locale" / "ko" / "LC_MESSAGES"
DOMAINS = ("django", "djangojs")
# The pages a person sees; the admin's review templates stay English (README "Languages").
TEMPLATE_DIRS = [ROOT / "templates", ROOT / "chat" / "templates", ROOT / "review" / "templates"]
PERSON_FACING_TEMPLATES = [
    path
    for directory in TEMPLATE_DIRS
    for path in sorted(directory.rglob("*.html"))
    if "admin" not in path.relative_to(directory).parts
]
PYTHON_PACKAGES = ["accounts", "chat", "review", "taxsite"]
SCRIPTS = sorted((ROOT / "chat" / "static" / "chat").glob("*.js"))
GETTEXT_NAMES = {"_", "gettext", "gettext_lazy", "gettext_noop", "ngettext", "pgettext"}

_STRING = r"u?'(?:[^'\\]|\\.)*'"
_TEMPLATE_CALL = re.compile(
    rf"\b(?P<kind>n?p?gettext)\((?P<args>{_STRING}(?:, {_STRING})*)(?:, count)?\)"
)


def _entries(domain: str) -> dict[tuple[str | None, str], polib.POEntry]:
    po = polib.pofile(str(LOCALE / f"{domain}.po"))
    return {(entry.msgctxt, entry.msgid): entry for entry in po if not entry.obsolete}


def _template_msgids(path: Path) -> set[tuple[str | None, str]]:
    found: set[tuple[str | None, str]] = set()
    for call in _TEMPLATE_CALL.finditer(templatize(path.read_text(), origin=str(path))):
        args = [ast.literal_eval(arg) for arg in re.findall(_STRING, call["args"])]
        if call["kind"].startswith(("pgettext", "npgettext")):
            found.add((args[0], args[1]))
        else:
            found.add((None, args[0]))
    return found


def _python_msgids(path: Path) -> set[tuple[str | None, str]]:
    found: set[tuple[str | None, str]] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        first = node.args[0]
        if (
            name in GETTEXT_NAMES
            and isinstance(first, ast.Constant)
            and isinstance(first.value, str)
        ):
            found.add((None, first.value))
    return found


def _script_msgids(path: Path) -> set[tuple[str | None, str]]:
    return {
        (None, json.loads(match))
        for match in re.findall(r'\b_\(("(?:[^"\\]|\\.)*")\)', path.read_text())
    }


def test_the_scanners_see_the_strings_they_must() -> None:
    """The checks below read the sources the way makemessages does: prove it on known strings."""
    assert (None, "Tax calculation") in _template_msgids(
        ROOT / "chat" / "templates" / "chat" / "_tool_call.html"
    )
    assert (None, "Stopped before the answer was finished.") in _python_msgids(
        ROOT / "chat" / "turns.py"
    )
    assert (None, "Live") in _script_msgids(ROOT / "chat" / "static" / "chat" / "chat.js")


@pytest.mark.parametrize("path", PERSON_FACING_TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_template_string_is_translated(path: Path) -> None:
    catalogue = _entries("django")
    for key in _template_msgids(path):
        entry = catalogue.get(key)
        assert entry is not None, f"{key} is not in the catalogue: run `make messages`"
        assert entry.translated(), f"{key} has no Korean translation"


def test_every_python_string_is_translated() -> None:
    catalogue = _entries("django")
    for package in PYTHON_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for key in _python_msgids(path):
                entry = catalogue.get(key)
                assert entry is not None, f"{path}: {key} is not in the catalogue"
                assert entry.translated(), f"{path}: {key} has no Korean translation"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_every_script_string_is_translated(path: Path) -> None:
    catalogue = _entries("djangojs")
    for key in _script_msgids(path):
        entry = catalogue.get(key)
        assert entry is not None, f"{path.name}: {key} is not in djangojs.po"
        assert entry.translated(), f"{path.name}: {key} has no Korean translation"


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_catalogue_has_no_empty_or_fuzzy_entry(domain: str) -> None:
    po = polib.pofile(str(LOCALE / f"{domain}.po"))
    assert po.untranslated_entries() == []
    assert po.fuzzy_entries() == []
    assert po.metadata["Language"] == "ko"
    assert po.metadata["Plural-Forms"].startswith("nplurals=1;")


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_committed_mo_is_compiled_from_the_po(domain: str, tmp_path: Path) -> None:
    """An edited .po without `make messages` would ship old words: compile it here and compare
    every message with the committed .mo, which is what Django reads."""
    compiled = tmp_path / f"{domain}.mo"
    polib.pofile(str(LOCALE / f"{domain}.po")).save_as_mofile(str(compiled))

    def messages(path: Path) -> dict[tuple[str | None, str], object]:
        return {
            (e.msgctxt, e.msgid): (e.msgstr_plural and dict(e.msgstr_plural)) or e.msgstr
            for e in polib.mofile(str(path))
        }

    assert messages(LOCALE / f"{domain}.mo") == messages(compiled)


@pytest.mark.parametrize("domain", DOMAINS)
def test_placeholders_survive_translation(domain: str) -> None:
    """A Korean string must carry the same {fields} and %(names)s as its English one, or the
    page would crash or drop a figure when formatting it."""
    fields = re.compile(r"\{\w+\}|%\(\w+\)[sd]|%[sd]|<[^>]+>")
    for entry in polib.pofile(str(LOCALE / f"{domain}.po")):
        translations = list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]
        for text in translations:
            assert sorted(fields.findall(text)) == sorted(fields.findall(entry.msgid)), entry.msgid
