"""The Flask extension contract: init_app rules, settings, plugins and their order."""

from __future__ import annotations

import sys
import textwrap

import pytest
from flask import Flask
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy

import hostapp
from flask_supportdesk import Actor
from flask_supportdesk import ConfigurationError
from flask_supportdesk import SupportDesk
from flask_supportdesk import hookimpl
from flask_supportdesk._state import get_state


def bare_app(**config: object) -> Flask:
    app = Flask(__name__)
    app.config.update(
        {
            "SECRET_KEY": "x",
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "SUPPORTDESK_LOAD_ENTRY_POINTS": False,
            **config,
        }
    )
    return app


def full_app(**config: object) -> tuple[Flask, SQLAlchemy]:
    app = bare_app(**config)
    db = SQLAlchemy(app)
    LoginManager(app)
    return app, db


def test_registering_twice_is_refused() -> None:
    app, db = full_app()
    desk = SupportDesk(app, db=db)
    with pytest.raises(RuntimeError, match="already been registered"):
        desk.init_app(app)


def test_needs_flask_login() -> None:
    app = bare_app()
    db = SQLAlchemy(app)
    with pytest.raises(RuntimeError, match="Flask-Login"):
        SupportDesk(app, db=db)


def test_needs_flask_sqlalchemy() -> None:
    app = bare_app()
    LoginManager(app)
    with pytest.raises(RuntimeError, match="Flask-SQLAlchemy"):
        SupportDesk(app)


def test_db_is_found_in_extensions() -> None:
    app, db = full_app()
    SupportDesk(app)
    assert get_state(app).db is db


def test_unknown_setting_is_refused_with_a_suggestion() -> None:
    app, db = full_app(SUPPORTDESK_MAX_MESAGE_LENGTH=10)
    with pytest.raises(ConfigurationError, match="SUPPORTDESK_MAX_MESSAGE_LENGTH"):
        SupportDesk(app, db=db)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("SUPPORTDESK_MAX_ATTACHMENTS", 0),
        ("SUPPORTDESK_URL_PREFIX", "support"),
        ("SUPPORTDESK_ROLE_HIERARCHY", ["agent", "agent"]),
        ("SUPPORTDESK_DEFAULT_CATEGORY", "nope"),
        ("SUPPORTDESK_COUNTERS_MAX_AGE", -1),
        ("SUPPORTDESK_COUNTERS_MAX_AGE", "soon"),
        ("SUPPORTDESK_COUNTERS_MAX_AGE", float("nan")),
    ],
)
def test_invalid_values_are_refused(key: str, value: object) -> None:
    app, db = full_app(**{key: value})
    with pytest.raises(ConfigurationError, match=key):
        SupportDesk(app, db=db)


def test_settings_are_filled_in_and_parsed_once() -> None:
    app, db = full_app(SUPPORTDESK_ROLE_HIERARCHY="Agent, Lead, Owner")
    SupportDesk(app, db=db)
    assert app.config["SUPPORTDESK_MAX_MESSAGE_LENGTH"] == 12000
    assert get_state(app).config.role_hierarchy == ("agent", "lead", "owner")
    app.config["SUPPORTDESK_MAX_MESSAGE_LENGTH"] = 5  # read once: no effect later
    assert get_state(app).config.max_message_length == 12000


def test_one_instance_serves_several_apps() -> None:
    desk = SupportDesk()
    first, db1 = full_app(SUPPORTDESK_URL_PREFIX="/help")
    second, db2 = full_app()
    desk.init_app(first)
    desk.init_app(second)
    assert get_state(first).config.url_prefix == "/help"
    assert get_state(second).config.url_prefix == "/support"
    assert get_state(first).db is db1 and get_state(second).db is db2
    assert get_state(first).hooks is not get_state(second).hooks
    assert any(r.rule.startswith("/help/") for r in first.url_map.iter_rules())


def test_get_state_without_desk_explains() -> None:
    app, _ = full_app()
    with app.app_context(), pytest.raises(RuntimeError, match="init_app"):
        get_state()


class RolesPlugin:
    @hookimpl
    def supportdesk_role_hierarchy(self) -> list[str]:
        return ["helper", "boss"]


def test_host_plugins_win_over_builtins_whatever_the_order() -> None:
    app, db = full_app()
    SupportDesk(app, db=db, plugins=[RolesPlugin()])
    with app.app_context():
        assert get_state().hooks.role_hierarchy() == ("helper", "boss")

    later, db2 = full_app()
    desk2 = SupportDesk(later, db=db2)
    with later.app_context():
        desk2.register(RolesPlugin())
        assert get_state().hooks.role_hierarchy() == ("helper", "boss")


def test_register_before_init_app_is_kept() -> None:
    desk = SupportDesk()
    desk.register(RolesPlugin())
    app, _db = full_app()
    desk.init_app(app)
    with app.app_context():
        assert get_state().hooks.role_hierarchy() == ("helper", "boss")


def test_misspelled_hook_is_refused() -> None:
    class Typo:
        @hookimpl
        def supportdesk_load_usr(self, user_id: str) -> None:
            return None

    app, db = full_app()
    with pytest.raises(ConfigurationError, match="supportdesk_load_usr"):
        SupportDesk(app, db=db, plugins=[Typo()])


def test_plugin_class_instead_of_instance_is_explained() -> None:
    app, db = full_app()
    with pytest.raises(ConfigurationError, match=r"forget the '\(\)'"):
        SupportDesk(app, db=db, plugins=[RolesPlugin])


def test_builtin_plugins_can_be_disabled() -> None:
    app, db = full_app(SUPPORTDESK_DISABLED_PLUGINS=["supportdesk.builtin.roles"])
    SupportDesk(app, db=db, plugins=[RolesPlugin()])
    pm = get_state(app).hooks.pm
    assert pm.get_plugin("supportdesk.builtin.roles") is None


def test_entry_point_plugins_are_loaded(tmp_path, monkeypatch) -> None:
    (tmp_path / "sd_demo_plugin.py").write_text(
        textwrap.dedent(
            """
            from flask_supportdesk import Actor, hookimpl

            @hookimpl
            def supportdesk_load_user(user_id):
                return Actor(user_id, "From entry point")
            """
        )
    )
    dist = tmp_path / "sd_demo_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: sd-demo-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[flask_supportdesk]\ndemo = sd_demo_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        app, db = full_app(SUPPORTDESK_LOAD_ENTRY_POINTS=True)
        SupportDesk(app, db=db)
        with app.app_context():
            assert get_state().hooks.load_user("7") == Actor("7", "From entry point")

        off, db2 = full_app(SUPPORTDESK_LOAD_ENTRY_POINTS=False)
        SupportDesk(off, db=db2)
        with off.app_context():
            assert get_state().hooks.load_user("7") is None
    finally:
        sys.modules.pop("sd_demo_plugin", None)


def test_builtin_identity_reads_flask_login_user(app: Flask) -> None:
    with app.test_request_context():
        actor = get_state().hooks.identify(hostapp.USERS[20])
    assert actor == Actor("20", "Max Manager", "max@store.example", "manager")


def test_hook_returning_wrong_type_is_a_clear_error(app: Flask) -> None:
    class Wrong:
        @hookimpl
        def supportdesk_load_user(self, user_id: str) -> dict[str, str]:
            return {"id": user_id}

    with app.app_context():
        get_state().desk.register(Wrong())
        with pytest.raises(TypeError, match=r"flask_supportdesk\.Actor"):
            get_state().hooks.load_user("1")


def test_version_comes_from_the_distribution() -> None:
    import importlib.metadata

    import flask_supportdesk

    assert flask_supportdesk.__version__ == importlib.metadata.version("flask-supportdesk")


def test_the_installed_package_is_under_test() -> None:
    """In CI the wheel is tested, not the checkout (a missing package file fails here)."""
    import os

    import flask_supportdesk

    if os.environ.get("SUPPORTDESK_TEST_INSTALLED"):
        assert "site-packages" in flask_supportdesk.__file__
    package = os.path.dirname(flask_supportdesk.__file__)
    for part in ("templates/supportdesk/base.html", "static/supportdesk/supportdesk.css",
                 "migrations/env.py", "migrations/versions/0001_initial_tables.py", "py.typed"):
        assert os.path.exists(os.path.join(package, part)), part
