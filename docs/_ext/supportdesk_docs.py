"""A small Sphinx extension: reference pages generated from the code itself.

``.. supportdesk-settings::`` writes one entry per :data:`flask_supportdesk.config.SETTINGS`
item (key, default, documentation), so the configuration page cannot fall behind the
code. :func:`settings_rst` is also what ``tests/test_docs.py`` checks.
"""

from __future__ import annotations

import typing as t

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

if t.TYPE_CHECKING:
    from sphinx.application import Sphinx


def format_default(value: t.Any) -> str:
    """A default as a reader would write it in ``app.config``."""
    if isinstance(value, tuple):
        value = list(value)
    return f"``{value!r}``"


def settings_rst() -> list[str]:
    """reStructuredText lines describing every ``SUPPORTDESK_*`` setting, in code order."""
    from flask_supportdesk.config import SETTINGS

    lines: list[str] = []
    for setting in SETTINGS:
        lines += [
            f".. _setting-{setting.name}:",
            "",
            f"``{setting.key}``",
            f"    {setting.help}",
            "",
            f"    Default: {format_default(setting.default)}",
            "",
        ]
    return lines


class SettingsDirective(SphinxDirective):
    """Insert the generated settings reference."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        container = nodes.container(classes=["supportdesk-settings"])
        # Parsed as if written in the page, so the ``literals`` in the help texts work.
        self.state.nested_parse(
            StringList(settings_rst(), source="flask_supportdesk/config.py"),
            self.content_offset,
            container,
        )
        return [container]


def setup(app: Sphinx) -> dict[str, t.Any]:
    app.add_directive("supportdesk-settings", SettingsDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
