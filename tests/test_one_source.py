"""Each fact has one home; these fail when a copy creeps back somewhere else."""

import re
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from packaging.requirements import Requirement

from chat import consumers, fragments, services
from chat.amounts import format_euros
from chat.consumers import CLOSE_CODES_SHOWN, CLOSE_NOT_FOUND, CLOSE_SESSION_ENDED
from chat.exports import conversation_markdown
from chat.routing import conversation_socket_path
from chat.templatetags.chat_tags import euros
from chat.tools.tax import TABLE
from tests.helpers.paths import ROOT

APPS = ("chat", "review", "accounts", "taxsite")


def _files(*suffixes: str) -> list[Path]:
    return [
        path
        for app in APPS
        for path in (ROOT / app).rglob("*")
        if path.suffix in suffixes and "migrations" not in path.parts
    ]


def _offenders(pattern: str, *suffixes: str, allowed: tuple[str, ...] = ()) -> list[str]:
    found = re.compile(pattern)
    return sorted(
        str(path.relative_to(ROOT))
        for path in _files(*suffixes)
        if found.search(path.read_text()) and str(path.relative_to(ROOT)) not in allowed
    )


@pytest.mark.django_db
def test_the_page_connects_to_the_socket_path_the_router_serves(alice: User) -> None:
    conversation = services.conversation_get_or_create_empty(owner=alice)
    client = Client()
    client.force_login(alice)
    page = client.get(f"/c/{conversation.pk}/").content.decode()
    assert conversation_socket_path(conversation.pk) == f"/ws/conversations/{conversation.pk}/"
    assert f'ws-connect="{conversation_socket_path(conversation.pk)}"' in page
    assert _offenders(r"ws/conversations", ".html", ".js") == []


@pytest.mark.django_db
def test_the_page_explains_the_close_codes_the_consumer_sends(alice: User) -> None:
    conversation = services.conversation_get_or_create_empty(owner=alice)
    client = Client()
    client.force_login(alice)
    page = client.get(f"/c/{conversation.pk}/").content.decode()
    assert CLOSE_SESSION_ENDED in CLOSE_CODES_SHOWN["signed_out"]
    signed_out = " ".join(map(str, CLOSE_CODES_SHOWN["signed_out"]))
    assert f'data-close-signed-out="{signed_out}"' in page
    assert f'data-close-not-found="{CLOSE_NOT_FOUND}"' in page
    # chat.js reads them from the page: no close code written in a script.
    codes = {str(code) for code in vars(consumers).values() if isinstance(code, int)}
    assert _offenders(rf"\b(?:{'|'.join(c for c in codes if c.startswith('4'))})\b", ".js") == []


def test_every_fragment_comes_from_a_template() -> None:
    """No HTML is assembled in Python, and no partial takes a flag to be sent over the socket."""
    assert _offenders(r"hx-swap-oob|<div|<p[ >]", ".py") == []
    assert _offenders(r"(?<![-\w])oob\b", ".html") == []


def test_an_appended_fragment_swaps_its_bubbles_in_at_the_end() -> None:
    html = fragments.messages_appended([])
    assert html.strip() == '<div id="messages" hx-swap-oob="beforeend"></div>'


@pytest.mark.parametrize(
    ("value", "shown"),
    [("14500", "€14,500.00"), ("0.005", "€0.01"), ("1234567.125", "€1,234,567.13")],
)
def test_templates_format_euros_with_the_one_formatter(value: str, shown: str) -> None:
    assert euros(value) == format_euros(Decimal(value)) == shown


def test_euro_formatting_is_written_once() -> None:
    assert _offenders(r"€\{[^}]*:,\.2f\}", ".py", allowed=("chat/amounts.py",)) == []


@pytest.mark.django_db
def test_the_export_states_the_tables_own_note(alice: User) -> None:
    conversation = services.conversation_get_or_create_empty(owner=alice)
    assert TABLE.note in conversation_markdown(conversation)
    assert _offenders(re.escape(TABLE.note), ".py", allowed=("chat/tools/tax.py",)) == []


def test_the_docs_name_only_files_that_exist() -> None:
    """A file the README or docs cite by path (or a design document by name) is in the repo."""
    cited = set()
    for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        text = doc.read_text()
        cited |= set(re.findall(r"\b[A-Z][A-Z_]+\.md\b", text))
        cited |= {
            path
            for path in re.findall(r"`((?:chat|review|accounts|taxsite|docs)/[\w/.-]+)`", text)
            if "." in path.rsplit("/", 1)[-1]
        }
    documents = {p.name for p in [*ROOT.glob("*.md"), *(ROOT / "docs").glob("*.md")]}
    documents |= {p.name for p in (ROOT / "tests").rglob("*.md")}
    missing = sorted(
        name
        for name in cited
        if not (ROOT / name).exists()
        and not (ROOT / "tests" / name).exists()
        and name not in documents
    )
    assert missing == []


def test_the_lock_pins_every_dependency_pyproject_names() -> None:
    """requirements.lock is what `make` installs: a dependency added without `make lock` fails."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    lock = (ROOT / "requirements.lock").read_text()
    pinned = {
        line.split("==")[0].lower().replace("_", "-"): line.split("==")[1].split()[0]
        for line in lock.splitlines()
        if "==" in line and not line.startswith((" ", "#"))
    }
    unpinned = [
        str(req)
        for req in map(Requirement, wanted)
        if req.name.lower().replace("_", "-") not in pinned
        or not req.specifier.contains(pinned[req.name.lower().replace("_", "-")])
    ]
    assert unpinned == []
