"""Translations: every message is in the German catalogue, no template text escapes
gettext, the locale is chosen as documented, and translated strings stay escaped."""

from __future__ import annotations

import datetime as dt
import html.parser
import pathlib
import re
import typing as t
from urllib.parse import quote

import flask_babel
import pytest
from babel.messages.extract import DEFAULT_KEYWORDS
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask import render_template_string
from flask.testing import FlaskClient
from jinja2 import ChoiceLoader
from jinja2 import DictLoader
from jinja2 import Environment
from jinja2 import nodes

import flask_supportdesk
import hostapp
from conftest import login
from flask_supportdesk import Actor
from flask_supportdesk import ConfigurationError
from flask_supportdesk import i18n
from flask_supportdesk import open_ticket
from flask_supportdesk.models import Priority
from flask_supportdesk.models import Status

PACKAGE = pathlib.Path(flask_supportdesk.__file__).parent
REPO = pathlib.Path(__file__).parents[1]
TEMPLATES = PACKAGE / "templates"
GERMAN_PO = PACKAGE / "translations" / "de" / "LC_MESSAGES" / "supportdesk.po"
GERMAN_MO = GERMAN_PO.with_suffix(".mo")
#: As the Makefile's `translations` target passes them to pybabel.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "lazy_ngettext": (1, 2)}


def _method_map() -> list[tuple[str, str]]:
    # babel.cfg of the repository, with its patterns made relative to the package folder.
    methods = []
    for line in (REPO / "babel.cfg").read_text().splitlines():
        match = re.fullmatch(r"\[(\w+): flask_supportdesk/(.+)\]", line.strip())
        if match:
            methods.append((match.group(2), match.group(1)))
    return methods


def extracted_messages() -> dict[str | tuple[str, str], str]:
    """Every message of the installed package's Python, templates and scripts, with
    where it was found."""
    methods = _method_map()
    assert {m for _, m in methods} == {"python", "jinja2", "javascript"}
    found: dict[str | tuple[str, str], str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(PACKAGE), methods, keywords=KEYWORDS
    ):
        found.setdefault(message, f"{filename}:{lineno}")
    return found


def test_the_extractor_finds_messages_of_every_kind() -> None:
    found = extracted_messages()
    where = set(found.values())
    assert any(w.startswith("templates/") for w in where)
    assert any(w.startswith("static/") for w in where)
    assert any(w.endswith(".py") or ".py:" in w for w in where)
    assert "Awaiting your reply" in found  # a status label (models.py)
    assert "My tickets" in found  # a template


def test_every_message_has_a_german_translation() -> None:
    with GERMAN_PO.open("rb") as f:
        catalog = read_po(f, locale="de")
    missing, untranslated, fuzzy = [], [], []
    for msgid, where in extracted_messages().items():
        key = msgid[0] if isinstance(msgid, tuple) else msgid
        entry = catalog.get(key)
        if entry is None:
            missing.append(f"{where}: {msgid!r}")
            continue
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if not all(strings):
            untranslated.append(f"{where}: {msgid!r}")
        if entry.fuzzy:
            fuzzy.append(f"{where}: {msgid!r}")
    assert not missing, "not in the German catalogue (run `make translations`):\n" + "\n".join(
        missing
    )
    assert not untranslated, "untranslated in de/supportdesk.po:\n" + "\n".join(untranslated)
    assert not fuzzy, "fuzzy in de/supportdesk.po:\n" + "\n".join(fuzzy)
    # Placeholders (%(name)s) must be the same in the translation as in the original.
    problems = [f"{m.id!r}: {errors}" for m, errors in catalog.check()]
    assert not problems, "\n".join(problems)


def test_the_compiled_catalogue_is_up_to_date() -> None:
    with GERMAN_PO.open("rb") as f:
        source = read_po(f, locale="de")
    with GERMAN_MO.open("rb") as f:
        compiled = read_mo(f)
    def entries(messages: t.Iterable[t.Any]) -> set[tuple[t.Any, ...]]:
        return {
            (
                tuple(m.id) if isinstance(m.id, (list, tuple)) else m.id,
                tuple(m.string) if isinstance(m.string, (list, tuple)) else m.string,
            )
            for m in messages
            if m.id and not m.fuzzy
        }

    wanted, shipped = entries(source), entries(compiled)
    assert wanted == shipped, "de/supportdesk.mo is stale: run `make translations`"


# -------------------------------------------------------------------------------------
# No template text outside gettext
# -------------------------------------------------------------------------------------

#: Attributes whose values people read (or hear, from a screen reader).
READABLE_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt", "aria-description"}
#: Text that is the same in every language: the unit of file sizes.
UNTRANSLATABLE = {"KiB"}
_GETTEXT_NAMES = {"_", "gettext", "ngettext"}
_PLACEHOLDER = "§"
_LETTERS = re.compile(r"[^\W\d_]{2,}")


def _prose(value: str) -> bool:
    # A string constant in an expression that reads as text, not as a name or a class
    # list: a capitalised word ("Unknown") or two plain words ("no reply").
    words = value.split()
    plain = [w for w in words if re.fullmatch(r"[^\W\d_]+[.,:;!?]?", w)]
    capitalised = bool(words) and re.fullmatch(r"[A-Z][a-z]+[.,:;!?]?", words[0]) is not None
    return capitalised or (len(words) > 1 and len(plain) == len(words))


class _TextFinder(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_data(self, data: str) -> None:
        self._check(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in READABLE_ATTRIBUTES and value:
                self._check(value)

    def _check(self, text: str) -> None:
        words = [w for w in _LETTERS.findall(text) if w not in UNTRANSLATABLE]
        if words:
            self.found.append(text.strip())


def _in_gettext(node: nodes.Node, parents: dict[int, nodes.Node]) -> bool:
    while id(node) in parents:
        node = parents[id(node)]
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name):
            if node.node.name in _GETTEXT_NAMES:
                return True
    return False


def untranslated_text(source: str) -> list[str]:
    """Text of a template that is shown but does not go through gettext."""
    # Only parsed, never rendered: autoescape does not matter here.
    env = Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
    tree = env.parse(source)
    parents: dict[int, nodes.Node] = {}
    for node in tree.find_all(nodes.Node):
        for child in node.iter_child_nodes():
            parents[id(child)] = node
    # Blocks named *_class fill a class attribute of the layout: CSS names, not text.
    for block in tree.find_all(nodes.Block):
        if block.name.endswith("_class"):
            block.body = []
    skeleton = []
    for output in tree.find_all(nodes.Output):
        for part in output.nodes:
            skeleton.append(part.data if isinstance(part, nodes.TemplateData) else _PLACEHOLDER)
    finder = _TextFinder()
    finder.feed("".join(skeleton))
    finder.close()
    constants = [
        const.value
        for const in tree.find_all(nodes.Const)
        if isinstance(const.value, str) and _prose(const.value) and not _in_gettext(const, parents)
    ]
    return finder.found + constants


@pytest.mark.parametrize(
    "template",
    sorted(str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*.html")),
)
def test_template_has_no_untranslated_text(template: str) -> None:
    found = untranslated_text((TEMPLATES / template).read_text())
    assert not found, f"{template}: text outside gettext: {found}"


@pytest.mark.parametrize(
    "source",
    [
        "<p>Hello</p>",
        '<input placeholder="Search here">',
        "{{ name or 'Unknown' }}",
        "{{ x if y else 'no reply' }}",
        "<title>{% block title %}Support{% endblock %}</title>",
        "{% block title %}Help{% endblock %}{% block x_class %}sd-portal{% endblock %}",
    ],
)
def test_the_scanner_finds_untranslated_text(source: str) -> None:
    assert untranslated_text(source)


@pytest.mark.parametrize(
    "source",
    [
        "<p>{{ _('Hello') }}</p>",
        "<p>{% trans %}Hello{% endtrans %}</p>",
        "<a class=\"sd-button sd-primary\" href=\"{{ url_for('x.y') }}\">&larr; {{ n }}</a>",
        "{{ _('Hi %(n)s', n=name or gettext('Unknown')) }}",
        "<span>{{ size | supportdesk_filesize }} KiB · 12</span>",
        "{% block x_class %}sd-portal{% endblock %}{% if f.type in ('BooleanField',) %}{% endif %}",
    ],
)
def test_the_scanner_accepts_translated_text(source: str) -> None:
    assert untranslated_text(source) == []


# -------------------------------------------------------------------------------------
# Choosing the locale
# -------------------------------------------------------------------------------------

PORTAL = "/support"
DESK = "/support/desk"


def _page(client: FlaskClient, url: str, language: str | None = None) -> str:
    headers = {"Accept-Language": language} if language else {}
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_accept_language_de_gives_german_pages(client: FlaskClient, alice: Actor, agent: Actor) -> None:
    login(client, alice)
    page = _page(client, PORTAL + "/", "de-DE,de;q=0.9,en;q=0.5")
    assert '<html lang="de">' in page
    assert "Meine Tickets" in page and "Neues Ticket" in page
    assert "My tickets" not in page
    # The scripts' catalogue is served in German too.
    assert "Zeichen zu viel" in page
    login(client, agent)
    desk = _page(client, DESK + "/", "de")
    assert "Tickets nach Status" in desk and "Tastenkürzel" in desk
    assert "Keyboard shortcuts" not in desk


def test_english_stays_the_default_and_an_unknown_language_falls_back(
    client: FlaskClient, alice: Actor
) -> None:
    login(client, alice)
    for language in (None, "fr-FR,fr;q=0.9"):
        page = _page(client, PORTAL + "/", language)
        assert '<html lang="en">' in page
        assert "My tickets" in page and "Meine Tickets" not in page


@pytest.mark.settings(languages=["en"])
def test_the_setting_restricts_the_languages(client: FlaskClient, alice: Actor) -> None:
    login(client, alice)
    assert "My tickets" in _page(client, PORTAL + "/", "de")


def test_a_language_the_desk_does_not_ship_is_refused_at_init() -> None:
    with pytest.raises(ConfigurationError, match="no translation for fr"):
        hostapp.create_app({"SUPPORTDESK_LANGUAGES": "en,fr"})


def test_the_hosts_own_selector_wins(app: Flask, client: FlaskClient, alice: Actor) -> None:
    # The host sets Flask-Babel up after the desk (before works the same: the desk then
    # leaves it alone): its selector decides, whatever the browser asks for.
    flask_babel.Babel(app, locale_selector=lambda: "de")
    login(client, alice)
    assert "Meine Tickets" in _page(client, PORTAL + "/", "en")


def test_a_host_with_babel_first_keeps_its_selector_and_time_zone() -> None:
    host = hostapp.create_app(
        {"BABEL_DEFAULT_TIMEZONE": "Europe/Berlin"},
        before_desk=lambda app: flask_babel.Babel(app, locale_selector=lambda: "de"),
    )
    with host.test_request_context(headers={"Accept-Language": "en"}):
        assert str(flask_babel.get_locale()) == "de"
        # 12:30 UTC in January is 13:30 in Berlin.
        stamp = i18n.format_datetime(dt.datetime(2026, 1, 5, 12, 30))
        assert stamp == "05.01.2026, 13:30"
    response = host.test_client().get(PORTAL + "/", headers={"Accept-Language": "en"})
    assert response.status_code == 401
    assert "Bitte melden Sie sich an" in response.get_data(as_text=True)


def test_dates_and_numbers_follow_the_locale(app: Flask) -> None:
    when = dt.datetime(2026, 1, 5, 14, 30)
    with app.test_request_context(headers={"Accept-Language": "de"}):
        assert i18n.format_datetime(when) == "05.01.2026, 14:30"
        assert i18n.format_number(12000) == "12.000"
        assert i18n.format_size(1536) == "1,5 KiB"
    with app.test_request_context():
        assert i18n.format_datetime(when) == "Jan 5, 2026, 2:30\u202fPM"
        assert i18n.format_number(12000) == "12,000"


def test_status_and_priority_labels_are_translated(app: Flask) -> None:
    with app.test_request_context(headers={"Accept-Language": "de"}):
        assert Status.PENDING_CUSTOMER.customer_label == "Wartet auf Ihre Antwort"
        assert Status.PENDING_ADMIN.staff_label == "Wartet auf Support"
        assert Priority.URGENT.label == "Dringend"
    with app.test_request_context():
        assert Status.PENDING_CUSTOMER.customer_label == "Awaiting your reply"


def test_api_errors_keep_their_code_and_translate_the_message(
    client: FlaskClient, alice: Actor
) -> None:
    login(client, alice)
    url = "/support/api/v1/tickets/T-XXXXXXXXXX"
    english = client.get(url).get_json()["error"]
    german = client.get(url, headers={"Accept-Language": "de"}).get_json()["error"]
    assert english == {"code": "not_found", "message": "Ticket not found."}
    assert german == {"code": "not_found", "message": "Ticket nicht gefunden."}


# -------------------------------------------------------------------------------------
# Translated strings stay escaped
# -------------------------------------------------------------------------------------

EVIL = '<script>alert("x")</script>'


@pytest.mark.parametrize("language", ["en", "de"])
def test_a_user_value_in_a_translated_template_string_is_escaped(
    client: FlaskClient, alice: Actor, language: str
) -> None:
    # `{{ _("We could not find order %(order)s ...", order=...) }}` with the query's order.
    login(client, alice)
    page = _page(client, PORTAL + "/new?order=" + quote(EVIL), language)
    assert EVIL not in page
    assert "&lt;script&gt;alert(" in page
    assert ("Wir konnten die Bestellung" in page) == (language == "de")


@pytest.mark.parametrize("language", ["en", "de"])
def test_a_user_value_in_a_trans_block_is_escaped(
    app: Flask, client: FlaskClient, alice: Actor, language: str
) -> None:
    # A host override of a desk page using {% trans %}: the tag marks its output safe,
    # so the desk's gettext must escape the variables itself.
    override = (
        '{% extends "supportdesk/base.html" %}{% block supportdesk_content %}'
        "<h1>{% trans number=ticket.subject %}Close ticket {{ number }}{% endtrans %}</h1>"
        "<p>{{ _('Close ticket %(number)s', number=ticket.subject) }}</p>"
        "{% endblock %}"
    )
    app.jinja_env.loader = ChoiceLoader(
        [DictLoader({"supportdesk/portal/close.html": override}), app.jinja_env.loader]
    )
    with app.app_context():
        number = open_ticket(requester=alice, subject=EVIL, body="body").number
    login(client, alice)
    page = _page(client, f"{PORTAL}/tickets/{number}/close", language)
    assert EVIL not in page
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"
    expected = f"Ticket {escaped} schließen" if language == "de" else f"Close ticket {escaped}"
    assert page.count(expected) == 2


def test_a_lazy_message_is_escaped_in_templates(app: Flask) -> None:
    # Flask-Babel's LazyString claims to be markup (__html__); the desk's does not.
    with app.test_request_context():
        label = i18n.lazy_gettext("Department %(name)s", name=EVIL)
        rendered = render_template_string("{{ label }}", label=label)
    assert EVIL not in rendered and "&lt;script&gt;" in rendered


def test_the_scripts_catalogue_cannot_leave_its_attribute(app: Flask) -> None:
    with app.test_request_context(headers={"Accept-Language": "de"}):
        catalogue = i18n.js_catalogue()
        rendered = render_template_string(
            "<meta content='{{ c | tojson }}'>", c={**catalogue, "x": "'><script>\"&"}
        )
    assert rendered.count("'") == 2 and "<script>" not in rendered and "&" not in rendered
    assert catalogue["%(num)s selected"] == {"one": "%(num)s ausgewählt", "other": "%(num)s ausgewählt"}
