"""The message renderer: the safe Markdown subset, and its bounded cost on hostile bodies."""

from __future__ import annotations

import html
import re

import pytest

from flask_supportdesk import markup

MAX_LENGTH = 12_000  # SUPPORTDESK_MAX_MESSAGE_LENGTH's default


def _repeat(unit: str, length: int = MAX_LENGTH) -> str:
    return (unit * (length // len(unit) + 1))[:length]


#: Bodies whose Markdown would cost far more than ordinary text of the same length.
PATHOLOGICAL = {
    "[": _repeat("["),
    "![": _repeat("!["),
    "[a](": _repeat("[a]("),
    "[]": _repeat("[]"),
    "](": _repeat("]("),
    "[\\n": _repeat("[\n"),
    "[x][": _repeat("[x]["),
    "**a": _repeat("**a"),
    "*a **a ***a": _repeat("*a **a ***a "),
    "_a": _repeat("_a"),
    "`a": _repeat("`a"),
    "<a": _repeat("<a"),
    "<a@b.c>": _repeat("<a@b.c>"),
    "&": _repeat("&"),
    "~~a": _repeat("~~a"),
    "a\\n\\n": _repeat("a\n\n"),
    "- a": _repeat("- a\n"),
    "> a": _repeat("> a\n\n"),
    "[a]: b": _repeat("[a]: b\n"),
    "punctuation": _repeat("[*_`<&>!](~)\\"),
}


def _text(rendered: str) -> str:
    """The characters a reader sees: tags removed, entities decoded, whitespace dropped."""
    return re.sub(r"\s", "", html.unescape(re.sub(r"<[^>]*>", "", rendered)))


def test_ordinary_markdown() -> None:
    body = (
        "**bold** and *italic* and ~~gone~~ and `code`\n"
        "next line\n\n"
        "[docs](https://example.com/a?b=1)\n\n"
        "- one\n- two\n\n"
        "3. three\n4. four\n\n"
        "> quoted\n\n"
        "```\nif a < b:\n    pass\n```\n\n"
        "    indented code\n\n"
        "# Title\n\n"
        "---"
    )
    result = markup.render_report(body)
    out = str(result.html)
    assert not result.plain_text
    assert "<strong>bold</strong>" in out
    assert "<em>italic</em>" in out
    assert "<s>gone</s>" in out
    assert "<code>code</code>" in out
    assert "<br>" in out or "<br />" in out
    assert (
        '<a href="https://example.com/a?b=1" rel="nofollow noopener noreferrer">docs</a>' in out
    )
    assert "<ul>\n<li>one</li>\n<li>two</li>\n</ul>" in out
    assert '<ol start="3">' in out
    assert "<blockquote>\n<p>quoted</p>\n</blockquote>" in out
    assert "<pre><code>if a &lt; b:\n    pass\n</code></pre>" in out
    assert "<pre><code>indented code\n</code></pre>" in out
    assert "<h1>Title</h1>" in out
    assert "<hr>" in out or "<hr />" in out


def test_raw_html_is_text() -> None:
    out = str(markup.render('<script>alert(1)</script> <img src=x onerror="alert(2)">'))
    assert "<script" not in out and "<img" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out


@pytest.mark.parametrize(
    "body",
    ["[x](javascript:alert(1))", "[x](data:text/html,<b>1</b>)", "<javascript:alert(1)>"],
)
def test_dangerous_links_are_dropped(body: str) -> None:
    out = str(markup.render(body))
    assert "href" not in out
    assert "<a" not in out


def test_ordinary_long_bodies_keep_their_markdown() -> None:
    reply = (
        "Hello, I ordered **two** of the *blue* kettles on 3 November (order 10234) but "
        "the parcel had only one. The tracking page ([here](https://shop.example/t/10234)) "
        "says delivered.\n\n- a cracked lid\n- no receipt\n\n> your last reply\n\n"
    )
    body = _repeat(reply)
    result = markup.render_report(body)
    assert not result.plain_text
    assert result.html == markup.render_report(body, budget=None).html


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_pathological_bodies_take_the_bounded_path(name: str) -> None:
    body = PATHOLOGICAL[name]
    unbounded = markup.render_report(body, budget=None)
    result = markup.render_report(body)
    # Structural, not timed: the unbounded parse costs more than the budget, the bounded
    # one stopped at it and showed the body as text.
    assert unbounded.steps > markup.RENDER_BUDGET
    assert result.plain_text
    assert result.steps == markup.RENDER_BUDGET + 1
    out = str(result.html)
    # Only the tags of the safe subset, and every character the customer typed (the
    # fallback escapes it; what Markdown did before the budget ran out is still text).
    assert set(re.findall(r"</?([a-z0-9]+)", out)) <= {
        "p", "br", "strong", "em", "code", "s", "a", "ul", "ol", "li", "blockquote",
        "pre", "h1", "hr",
    }  # fmt: skip
    assert "<script" not in out
    typed = re.sub(r"\s", "", body)
    seen = _text(out)
    if set(re.findall(r"</?([a-z0-9]+)", out)) <= {"p", "br"}:
        assert seen == typed
    else:
        # Blocks before the overrun keep their Markdown, which consumes its syntax; the
        # run that overran, and all after it, are text.
        assert seen.endswith(typed[-200:])


def test_whole_body_fallback_keeps_text_and_line_breaks() -> None:
    body = _repeat("- <b>a</b> &amp;\n") + "\n\nlast"
    result = markup.render_report(body)
    out = str(result.html)
    assert result.plain_text
    assert "&lt;b&gt;a&lt;/b&gt; &amp;amp;" in out
    assert "<li>" not in out
    assert out.count("<br") >= body.count("\n") - 3
    assert out.rstrip().endswith("<p>last</p>")


def test_overrun_keeps_earlier_blocks() -> None:
    body = "**Hello**\n\n" + _repeat("[", MAX_LENGTH - 20)
    result = markup.render_report(body)
    out = str(result.html)
    assert result.plain_text
    assert out.startswith("<p><strong>Hello</strong></p>")
    assert "[" * 100 in out


def test_budget_holds_beyond_the_default_length() -> None:
    body = _repeat("[", 10 * MAX_LENGTH)
    result = markup.render_report(body)
    assert result.plain_text
    assert result.steps == markup.RENDER_BUDGET + 1
    assert _text(str(result.html)) == body

