"""Message bodies as a safe Markdown subset: rendered, then sanitised with nh3.

Raw HTML in a message is shown as text (markdown-it's ``html`` option is off), and the
output passes an allow-list sanitiser as a second line of defence, which also drops
``javascript:`` and ``data:`` links.
"""

from __future__ import annotations

import functools

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

#: Bump whenever the output of :func:`render` changes (parser options, allowed tags):
#: stored HTML of another version is not trusted and the body is rendered again.
RENDER_VERSION = 1

_TAGS = {
    "p", "br", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li", "a", "hr",
    "h1", "h2", "h3", "h4", "h5", "h6", "del",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}


@functools.cache
def _parser() -> MarkdownIt:
    # "js-default" = CommonMark with raw HTML off and link validation on.
    return MarkdownIt("js-default", {"breaks": True, "linkify": False}).enable("strikethrough")


def render(text: str) -> Markup:
    """Render a message body to sanitised HTML."""
    html = _parser().render(text or "")
    clean = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
    )
    return Markup(clean)  # noqa: S704 - sanitised just above
