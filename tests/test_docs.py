"""The documentation tells the truth: README commands, samples and every reference entry.

Pattern from datasette's ``tests/test_docs.py``: every setting, hook and signal must be
documented, and the code samples a host developer copies must actually run.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import pathlib
import re
import shlex
import subprocess
import sys
import textwrap
import types
import typing as t

import pytest
from blinker import NamedSignal
from flask import Flask
from flask_login import login_user

from flask_supportdesk import Actor
from flask_supportdesk import Reference
from flask_supportdesk import ValidationError
from flask_supportdesk import signals
from flask_supportdesk._state import get_state
from flask_supportdesk.config import SETTINGS
from flask_supportdesk.hooks import PROJECT_NAME
from flask_supportdesk.hooks import specs

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text(encoding="utf-8")

#: ``<!-- readme-example: PATH -->`` before a fenced block marks a file the tests run.
EXAMPLE_BLOCK = re.compile(r"<!-- readme-example: (\S+) -->\n```[\w+-]*\n(.*?)\n```", re.S)


def readme_examples() -> dict[str, str]:
    """The README's tested files, by path."""
    return {path: code + "\n" for path, code in EXAMPLE_BLOCK.findall(README)}


def hookspecs() -> list[types.FunctionType]:
    """Every hook specification (pluggy marks them with ``<project>_spec``)."""
    return [
        obj
        for _, obj in inspect.getmembers(specs, inspect.isfunction)
        if hasattr(obj, f"{PROJECT_NAME}_spec")
    ]


def signal_names() -> list[str]:
    """Every signal object of :mod:`flask_supportdesk.signals`."""
    return [name for name, value in vars(signals).items() if isinstance(value, NamedSignal)]


# -------------------------------------------------------------------------------------
# README
# -------------------------------------------------------------------------------------


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z][\w-]*):", text, re.M))


def test_readme_starts_with_the_two_commands_and_they_are_make_targets() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert first_block is not None
    commands = re.findall(r"^make (\w+)", first_block.group(1), re.M)
    assert commands == ["demo", "test"]
    assert set(commands) <= makefile_targets()
    # Everything else the README tells people to run with make exists too.
    assert set(re.findall(r"`make (\w+)", README)) <= makefile_targets()


def test_readme_names_the_postgres_variable_the_tests_read() -> None:
    conftest = (ROOT / "tests" / "conftest.py").read_text(encoding="utf-8")
    assert "SUPPORTDESK_TEST_DATABASE_URL" in README
    assert 'os.environ.get("SUPPORTDESK_TEST_DATABASE_URL")' in conftest


def test_readme_has_the_tested_examples() -> None:
    assert set(readme_examples()) == {"store.py", "templates/layout.html"}


def test_readme_layout_defines_the_blocks_the_desk_needs() -> None:
    layout = readme_examples()["templates/layout.html"]
    for block in ("title", "head", "content"):
        assert f"{{% block {block} %}}" in layout
    # The same three blocks the setting's own documentation promises.
    help_text = next(s.help for s in SETTINGS if s.name == "base_template")
    assert all(f"``{block}``" in help_text for block in ("title", "head", "content"))


@pytest.fixture(scope="module")
def readme_store(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[types.ModuleType]:
    """The README's store.py and layout, written to a folder and imported as ``store``."""
    folder = tmp_path_factory.mktemp("readme_store")
    for path, code in readme_examples().items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(code, encoding="utf-8")
    sys.path.insert(0, str(folder))
    sys.modules.pop("store", None)
    try:
        yield importlib.import_module("store")
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("store", None)


@pytest.fixture
def store_app(readme_store: types.ModuleType, tmp_path: pathlib.Path) -> t.Iterator[Flask]:
    """The README's app on a fresh SQLite file, migrated with the README's command."""
    app: Flask = readme_store.create_app(
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'store.db'}", "TESTING": True}
    )
    result = app.test_cli_runner().invoke(args=["supportdesk", "db", "upgrade"])
    assert result.exit_code == 0, result.output
    db = readme_store.db
    with app.app_context():
        db.create_all()  # the store's own tables; the desk's came from the migration
        db.session.add_all(
            [
                readme_store.User(id=1, name="Alice", email="alice@example.com"),
                readme_store.User(id=2, name="Bob", email="bob@example.com"),
                readme_store.User(
                    id=10, name="Ann", email="ann@store.example", supportdesk_role="agent"
                ),
                readme_store.Order(id=1042, user_id=1),
                readme_store.Order(id=2001, user_id=2),
            ]
        )
        db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_readme_store_identifies_customers_and_staff(
    store_app: Flask, readme_store: types.ModuleType
) -> None:
    from flask_supportdesk import policy
    from flask_supportdesk.blueprints._common import current_actor

    db = readme_store.db
    for user_id, expected in [
        (1, Actor("1", "Alice", "alice@example.com", None)),
        (10, Actor("10", "Ann", "ann@store.example", "agent")),
    ]:
        with store_app.test_request_context():
            login_user(db.session.get(readme_store.User, user_id))
            assert current_actor() == expected
            assert policy.is_staff(current_actor()) is (expected.role is not None)


def test_readme_store_plugin_answers_the_desk(
    store_app: Flask, readme_store: types.ModuleType
) -> None:
    with store_app.test_request_context():
        hooks = get_state().hooks
        assert hooks.load_user("2") == Actor("2", "Bob", "bob@example.com")
        assert hooks.load_user("nobody") is None
        assert hooks.find_user("ann@store.example") == Actor(
            "10", "Ann", "ann@store.example", "agent"
        )
        assert hooks.staff_members() == [Actor("10", "Ann", "ann@store.example", "agent")]
        alice = hooks.load_user("1")
        assert alice is not None
        assert hooks.resolve_reference("order", "1042", alice) == Reference(
            "Order #1042", "/orders/1042"
        )
        assert hooks.resolve_reference("order", "2001", alice) is None  # Bob's


def test_readme_store_opens_a_ticket_about_an_order(
    store_app: Flask, readme_store: types.ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    from flask_supportdesk.services.tickets import open_ticket

    with store_app.test_request_context():
        alice = get_state().hooks.load_user("1")
        assert alice is not None
        with pytest.raises(ValidationError) as refused:
            open_ticket(
                alice, subject="Not mine", body="?", reference={"kind": "order", "id": "2001"}
            )
        assert "reference" in refused.value.fields
        with caplog.at_level(logging.INFO, logger=store_app.logger.name):
            ticket = open_ticket(
                alice,
                subject="Parcel missing",
                body="Where is it?",
                reference={"kind": "order", "id": "1042"},
            )
        assert ticket.reference_label == "Order #1042"
        # The README's signal receiver ran after the commit.
        assert f"Ticket {ticket.number} opened by Alice" in caplog.text


def test_readme_order_link_and_layout_render(store_app: Flask) -> None:
    """The README's "Get help with this order" link and layout build real desk URLs."""
    with store_app.test_request_context():
        from flask import render_template_string

        link = re.search(r"\{\{ url_for\('supportdesk_portal\.new_ticket'.*?\}\}", README)
        assert link is not None
        order = types.SimpleNamespace(id=1042)
        assert render_template_string(link.group(0), order=order) == "/support/new?order=1042"
        assert get_state().config.base_template == "layout.html"


def login(client: t.Any, user_id: int) -> None:
    """Log a test client in the way Flask-Login remembers a user (the README store has no
    login page of its own)."""
    with client.session_transaction() as session:
        session["_user_id"] = str(user_id)
        session["_fresh"] = True


def test_readme_store_shows_the_portal_inside_its_layout(store_app: Flask) -> None:
    client = store_app.test_client()
    anonymous = client.get("/support/")
    assert anonymous.status_code == 401  # no login_view in the sample: the desk's page
    assert 'class="store-nav"' in anonymous.text

    login(client, 1)
    page = client.get("/support/new?order=1042")
    assert page.status_code == 200
    assert 'class="store-nav"' in page.text  # the README layout around the desk page
    assert "<title>New ticket · My Store</title>" in page.text  # the desk filled title
    assert "supportdesk/supportdesk.css" in page.text  # the desk filled the head block
    assert "Order #1042" in page.text
    assert "Order #2001" not in client.get("/support/new?order=2001").text  # Bob's


def console_sessions(text: str) -> list[tuple[list[str], str]]:
    """``(arguments, expected output)`` of each ``$ flask --app yourstore ...`` line in the
    ``console`` blocks of a page."""
    sessions: list[tuple[list[str], str]] = []
    for block in re.findall(r".. code-block:: console\n\n((?:    .*\n|\n)+)", text):
        for line in textwrap.dedent(block).strip().splitlines():
            if line.startswith("$ "):
                command = shlex.split(line[2:])
                assert command[:3] == ["flask", "--app", "yourstore"], line
                sessions.append((command[3:], ""))
            else:
                args, output = sessions[-1]
                sessions[-1] = (args, output + line + "\n")
    return sessions


def test_cli_documentation_matches_the_commands(store_app: Flask) -> None:
    """The console session in docs/cli.rst is what the commands print, and every command
    of the ``supportdesk`` group is documented there."""
    from flask_supportdesk.cli import supportdesk_cli

    cli = (DOCS / "cli.rst").read_text(encoding="utf-8")
    runner = store_app.test_cli_runner()
    sessions = console_sessions(cli)
    assert sessions
    for args, expected in sessions:
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
        assert result.output == expected
    assert runner.invoke(args=["supportdesk", "db", "current"]).exit_code == 0
    for name, command in supportdesk_cli.commands.items():
        subcommands = getattr(command, "commands", {name: command})
        for full in (f"{name} {sub}" if sub != name else name for sub in subcommands):
            assert f"``flask supportdesk {full}" in cli, f"{full} is not documented"


# -------------------------------------------------------------------------------------
# Surfaces: every page and API route is documented, and nothing that does not exist
# -------------------------------------------------------------------------------------


def _shape(path: str) -> str:
    """A route with its variables blanked: ``/tickets/<number>`` -> ``/tickets/{}``."""
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)


def test_every_api_route_is_in_the_http_api_page(app: Flask) -> None:
    page = (DOCS / "http_api.rst").read_text(encoding="utf-8")
    documented = {
        (method, _shape(path))
        for method, path in re.findall(r"``(GET|POST|PATCH|PUT|DELETE) (/[^`]*)``", page)
    }
    prefix = get_state(app).config.api_url_prefix
    routes = {
        (method, _shape(rule.rule[len(prefix) :]))
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("supportdesk_api.")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert routes, "the API has no routes"
    assert routes == documented


def test_every_page_of_the_portal_and_desk_is_documented(app: Flask) -> None:
    page = (DOCS / "pages.rst").read_text(encoding="utf-8")
    endpoints = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith(("supportdesk_portal.", "supportdesk_desk."))
    }
    assert "supportdesk_portal.tickets" in endpoints
    for endpoint in endpoints:
        assert f"``{endpoint}``" in page, f"{endpoint} is not in docs/pages.rst"
    for endpoint in re.findall(r"``(supportdesk_(?:portal|desk)\.\w+)``", page):
        assert endpoint in endpoints, f"docs/pages.rst names {endpoint}, which does not exist"


def test_the_documented_template_context_exists(app: Flask) -> None:
    """docs/templates.rst is a contract: every name it documents is really there."""
    from flask_supportdesk.templating import TemplateContext

    page = (DOCS / "templates.rst").read_text(encoding="utf-8")
    templates = ROOT / "flask_supportdesk" / "templates" / "supportdesk"
    attributes = set(re.findall(r"``supportdesk\.(\w+)", page))
    assert attributes >= {"actor", "is_staff", "can_manage_departments", "config"}
    for name in attributes:
        member = getattr(TemplateContext, name, None)
        assert isinstance(member, property) or callable(member), name
    for name in re.findall(r"^``(supportdesk_\w+)``$", page, re.M):
        # Either a block of the bridge template or a filter.
        assert (
            f"{{% block {name} %}}" in (templates / "base.html").read_text(encoding="utf-8")
            or name in app.jinja_env.filters
        ), f"{name} is documented but is neither a block of base.html nor a filter"
    for name in ("SupportDeskStatus", "SupportDeskPriority"):
        assert name in page and name in app.jinja_env.globals
    macros = (templates / "_macros.html").read_text(encoding="utf-8")
    documented = re.findall(r"``(\w+)\((?:[^`]*)\)``", page.split("Macros of")[1])
    assert len(documented) >= 8
    for name in documented:
        assert f"{{% macro {name}(" in macros, f"macro {name} is documented but missing"
    for path in re.findall(r"``(supportdesk/[\w/]+\.html)``", page):
        assert (templates.parent / path).is_file(), path


def test_documented_model_attributes_exist() -> None:
    """The attribute lists of docs/api.rst name real attributes of the models."""
    from flask_supportdesk import models

    page = (DOCS / "api.rst").read_text(encoding="utf-8")
    blocks = re.split(r"^\.\. autoclass:: flask_supportdesk\.models\.", page, flags=re.M)[1:]
    checked = 0
    for block in blocks:
        name, _, text = block.partition("\n")
        model = getattr(models, name)
        for attribute in re.findall(r"``([a-z][a-z0-9_]*)``", text):
            if attribute.startswith("supportdesk_"):  # a filter or hook mentioned in passing
                continue
            assert hasattr(model, attribute), f"{name}.{attribute} is documented but missing"
            checked += 1
    assert checked >= 30


# -------------------------------------------------------------------------------------
# Reference: settings, hooks, signals
# -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def docs_ext() -> t.Iterator[types.ModuleType]:
    pytest.importorskip("sphinx")
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        yield importlib.import_module("supportdesk_docs")
    finally:
        sys.path.remove(str(DOCS / "_ext"))


def test_every_setting_is_in_the_generated_reference(docs_ext: types.ModuleType) -> None:
    text = "\n".join(docs_ext.settings_rst())
    for setting in SETTINGS:
        assert setting.help.strip(), f"{setting.key} has no documentation"
        assert f"``{setting.key}``\n    {setting.help}" in text
        assert f"Default: {docs_ext.format_default(setting.default)}" in text
    assert (DOCS / "configuration.rst").read_text(encoding="utf-8").count(
        ".. supportdesk-settings::"
    ) == 1


def test_every_hookspec_has_a_reference_docstring() -> None:
    found = hookspecs()
    assert len(found) >= 10
    for spec in found:
        assert spec.__name__.startswith("supportdesk_")
        doc = inspect.getdoc(spec) or ""
        assert len(doc.splitlines()[0]) > 20, f"{spec.__name__}: no summary line"
        assert ".. versionadded::" in doc, spec.__name__
        for name in inspect.signature(spec).parameters:
            assert f":param {name}:" in doc, f"{spec.__name__} does not document {name!r}"
        firstresult = getattr(spec, f"{PROJECT_NAME}_spec").get("firstresult")
        assert ("Stops at first non-None result" in doc) is bool(firstresult), spec.__name__
    hooks_page = (DOCS / "hooks.rst").read_text(encoding="utf-8")
    assert ".. automodule:: flask_supportdesk.hooks.specs\n   :members:" in hooks_page


def test_every_signal_is_documented() -> None:
    from sphinx.pycode import ModuleAnalyzer

    pytest.importorskip("sphinx")
    attr_docs = ModuleAnalyzer.for_module("flask_supportdesk.signals").find_attr_docs()
    page = (DOCS / "signals.rst").read_text(encoding="utf-8")
    names = signal_names()
    assert sorted(names) == sorted(signals.__all__)
    for name in names:
        doc = " ".join(attr_docs.get(("", name), []))
        assert "Receivers get" in doc, f"signal {name} does not say what receivers get"
        assert f".. autodata:: flask_supportdesk.signals.{name}\n   :no-value:" in page


def test_docs_cover_every_surface_the_brief_lists() -> None:
    pages = {p.stem for p in DOCS.glob("*.rst")}
    assert {
        "index", "quickstart", "integration", "configuration", "hooks", "signals", "api",
        "http_api", "pages", "templates", "security", "deployment", "cli",
    } <= pages  # fmt: skip
    conf = (DOCS / "conf.py").read_text(encoding="utf-8")
    assert "sphinx.ext.intersphinx" not in conf  # the docs build offline


def test_docs_build_without_warnings(tmp_path: pathlib.Path) -> None:
    """The whole site builds with -W (warnings are errors) and shows every reference entry.

    A subprocess, so Sphinx's own warnings are its business and not pytest's.
    """
    pytest.importorskip("sphinx")
    out = tmp_path / "html"
    build = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         str(DOCS), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    configuration = (out / "configuration.html").read_text(encoding="utf-8")
    for setting in SETTINGS:
        assert f'id="setting-{setting.name.replace("_", "-")}"' in configuration
        assert setting.key in configuration
    hooks_html = (out / "hooks.html").read_text(encoding="utf-8")
    for spec in hookspecs():
        assert f'id="flask_supportdesk.hooks.specs.{spec.__name__}"' in hooks_html
    signals_html = (out / "signals.html").read_text(encoding="utf-8")
    for name in signal_names():
        assert f'id="flask_supportdesk.signals.{name}"' in signals_html


def test_every_public_name_is_in_the_api_reference() -> None:
    import flask_supportdesk

    page = (DOCS / "api.rst").read_text(encoding="utf-8")
    for name in flask_supportdesk.__all__:
        if name == "signals":
            continue  # its own page, checked above
        assert f"flask_supportdesk.{name}" in page, f"{name} is not in docs/api.rst"
