"""Message bodies as a safe Markdown subset: rendered, then sanitised with nh3.

Raw HTML in a message is shown as text (markdown-it's ``html`` option is off), and the
output passes an allow-list sanitiser as a second line of defence, which also drops
``javascript:`` and ``data:`` links.

**Bounded cost.** markdown-it-py is linear in its input but its cost per character varies
a hundredfold: 12,000 characters of prose take a few milliseconds, 12,000 ``[`` almost a
second (each unclosed ``[`` scans ahead up to ``maxNesting`` levels), 3,000 one-word list
items over a hundred milliseconds. A body is rendered when it is written, so one such
message would hold a worker (and any lock around the write) for that long. The parser
therefore runs on a budget of *steps*: two meter rules, placed first in markdown-it's
block and inline rule chains, are called once per block and once per inline token tried
(lookahead included, memoised lookahead excluded) and count them. A paragraph that runs
the budget out is shown, with every paragraph after it, as escaped plain text keeping its
line breaks; if the block structure alone runs it out, the whole body is.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import typing as t

import nh3
from markdown_it import MarkdownIt
from markdown_it.parser_inline import ParserInline
from markdown_it.rules_block import StateBlock
from markdown_it.rules_block import reference
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markdown_it.rules_inline import autolink
from markdown_it.rules_inline import emphasis
from markdown_it.rules_inline import image
from markdown_it.rules_inline import link
from markdown_it.rules_inline import strikethrough
from markdown_it.token import Token
from markupsafe import Markup
from markupsafe import escape

#: Bump whenever the output of :func:`render` changes (parser options, allowed tags):
#: stored HTML of another version is not trusted and the body is rendered again.
#: 2: bodies that exceed :data:`RENDER_BUDGET` show (in part) as plain text, and
#: ``~~strikethrough~~`` shows (markdown-it writes ``<s>``, which version 1 stripped).
RENDER_VERSION = 2

#: Parser steps one body may cost before the rest of it is shown as plain text. A step
#: costs from a few to about ten microseconds (lists of one-word items are the dearest),
#: so the budget keeps any body's render within tens of milliseconds; 12,000 characters of
#: ordinary Markdown (prose, links, lists, code) use well under half of it.
RENDER_BUDGET = 6500

# Steps charged for what costs more than one inline rule call: an inline run (a paragraph,
# heading or list item: its own inline state and post-processing passes), a block tried,
# a line tested for the end of a block, a link (URL normalisation). Calibrated with
# bench/render.py, so that a step costs about the same whatever the body.
_RUN_STEPS = 8
_BLOCK_STEPS = 4
_END_STEPS = 2
_LINK_STEPS = 8
_DELIMITER_STEPS = 2

_TAGS = {
    "p", "br", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li", "a", "hr",
    "h1", "h2", "h3", "h4", "h5", "h6", "del", "s",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
_URL_SCHEMES = {"http", "https", "mailto"}
_LINK_REL = "nofollow noopener noreferrer"

# The meters keep the remaining budget in the parse's ``env``, which markdown-it hands to
# every block and inline state of one render (and to no other render).
_BUDGET_KEY = "supportdesk_budget"


# markdown-it's block chains that test, line by line, whether a block ends here.
_END_CHAINS = ["blockquote", "list", "paragraph", "reference"]


_InlineRule = t.Callable[[StateInline, bool], bool]


class _BudgetExceeded(Exception):
    """The parse spent its budget: the caller falls back to plain text."""


@dataclasses.dataclass(frozen=True)
class Rendering:
    """The outcome of :func:`render_report`.

    :param html: the sanitised HTML, as :func:`render` returns it.
    :param steps: the parser steps spent (at most the budget plus one).
    :param plain_text: whether some or all of the body was shown as plain text because
        its Markdown would have cost more than the budget.
    """

    html: Markup
    steps: int
    plain_text: bool


def _spend(env: t.MutableMapping[str, t.Any], steps: int = 1) -> None:
    # A parse started without render_report (no key) gets the default budget.
    left = env.get(_BUDGET_KEY, RENDER_BUDGET) - steps
    env[_BUDGET_KEY] = left
    if left < 0:
        raise _BudgetExceeded


def _block_meter(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    """Count one block step; never matches, so the block rules after it run unchanged.

    :param state: markdown-it's block state.
    :param start_line: the line the block parser is at.
    :param end_line: the end of the range being parsed.
    :param silent: whether this is lookahead.
    :raises _BudgetExceeded: when the budget is spent.
    """
    # A block tried in the main chain runs up to a dozen rules and makes its tokens; the
    # end-of-block chains (silent) run about half as many on each line.
    _spend(state.env, _END_STEPS if silent else _BLOCK_STEPS)
    return False


def _reference_meter(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    """markdown-it's link reference definition rule, counting each definition as a link.

    :param state: markdown-it's block state.
    :param start_line: the line the definition would start on.
    :param end_line: the end of the range being parsed.
    :param silent: whether this is lookahead.
    :raises _BudgetExceeded: when the budget is spent.
    """
    if not reference(state, start_line, end_line, silent):
        return False
    _spend(state.env, _LINK_STEPS)
    return True


def _charged(rule: _InlineRule, marker: str, steps: int) -> _InlineRule:
    """markdown-it's inline ``rule``, charging ``steps`` whenever tried at a ``marker``.

    Charged when tried, not when matched: a link that fails can still have scanned its
    destination (up to 32 unclosed parentheses) before giving up.

    :param rule: the library's rule function.
    :param marker: the characters the rule starts at.
    :param steps: what one try costs beyond the meter's step.
    """

    @functools.wraps(rule)
    def charged(state: StateInline, silent: bool) -> bool:
        if state.src[state.pos] in marker:
            _spend(state.env, steps)
        return rule(state, silent)

    return charged


def _inline_meter(state: StateInline, silent: bool) -> bool:
    """Count one inline step; never matches, so the inline rules after it run unchanged.

    :param state: markdown-it's inline state.
    :param silent: whether this is lookahead (``skipToken``).
    :raises _BudgetExceeded: when the budget is spent.
    """
    _spend(state.env)
    return False


def _pairs_meter(state: StateInline) -> None:
    """Count the tokens and delimiters of one inline run, before they are post-processed.

    Pairing emphasis, rendering and sanitising cost per token and per delimiter.

    :param state: markdown-it's inline state, after tokenising.
    :raises _BudgetExceeded: when the budget is spent.
    """
    _spend(state.env, len(state.tokens) + len(state.delimiters))


def _plain_children(content: str) -> list[Token]:
    """One inline token showing ``content`` as escaped text, its line breaks kept.

    A single token of ready HTML, not a token per line: the fallback must stay cheap
    for bodies of thousands of lines. It still passes the sanitiser with the rest.

    :param content: the raw Markdown of one inline run.
    """
    html = str(escape(content)).replace("\n", "<br />\n")
    return [Token("html_inline", "", 0, content=html)]


def _inline_within_budget(state: StateCore) -> None:
    """markdown-it's core ``inline`` rule, falling back to plain text on an overrun.

    Inline runs are parsed in document order; the one that spends the budget, and every
    one after it, gets plain-text children instead, so the blocks before it keep their
    Markdown.

    :param state: markdown-it's core state.
    """
    md = state.md
    exceeded = False
    for token in state.tokens:
        if token.type != "inline":
            continue
        if not exceeded:
            children: list[Token] = []
            try:
                _spend(state.env, _RUN_STEPS)
                md.inline.parse(token.content, md, state.env, children)
            except _BudgetExceeded:
                exceeded = True
            else:
                token.children = children
                continue
        token.children = _plain_children(token.content)
    if exceeded:
        state.env[_BUDGET_KEY] = -1


class _MeteredInline(ParserInline):
    """markdown-it's inline parser, counting each lookahead step, memoised ones included.

    A link label is scanned with ``skipToken``; its memo makes each scan cheap but not
    free, and runs of ``[`` repeat such scans thousands of times.
    """

    def skipToken(self, state: StateInline) -> None:
        """Count one step, then skip one token as markdown-it does.

        :param state: markdown-it's inline state.
        :raises _BudgetExceeded: when the budget is spent.
        """
        _spend(state.env)
        super().skipToken(state)


@functools.cache
def _parser() -> MarkdownIt:
    # "js-default" = CommonMark with raw HTML off and link validation on.
    md = MarkdownIt("js-default", {"breaks": True, "linkify": False}).enable("strikethrough")
    block = md.block.ruler
    # Also in the chains that decide where a paragraph, quote or list ends: they run on
    # every line of one, which the main chain does not see.
    block.before(block.get_all_rules()[0], "supportdesk_meter", _block_meter, {"alt": _END_CHAINS})
    # markdown-it's own rule, wrapped; it terminates no other block, so has no chains.
    block.at("reference", _reference_meter)
    metered = _MeteredInline()
    metered.ruler = md.inline.ruler
    metered.ruler2 = md.inline.ruler2
    md.inline = metered
    inline = md.inline.ruler
    inline.before(inline.get_all_rules()[0], "supportdesk_meter", _inline_meter)
    # The library's own rules, charged per try (inline rules have no chains).
    inline.at("link", _charged(link, "[", _LINK_STEPS))
    inline.at("image", _charged(image, "!", _LINK_STEPS))
    inline.at("autolink", _charged(autolink, "<", _LINK_STEPS))
    inline.at("emphasis", _charged(emphasis.tokenize, "*_", _DELIMITER_STEPS))
    inline.at("strikethrough", _charged(strikethrough.tokenize, "~", _DELIMITER_STEPS))
    md.inline.ruler2.before(md.inline.ruler2.get_all_rules()[0], "supportdesk_meter", _pairs_meter)
    md.core.ruler.at("inline", _inline_within_budget)
    return md


def _plain_tokens(text: str) -> list[Token]:
    """One block token showing all of ``text`` as escaped plain-text paragraphs.

    :param text: the message body.
    """
    paragraphs = (part.strip("\n") for part in text.split("\n\n"))
    html = "".join(f"<p>{_plain_children(part)[0].content}</p>\n" for part in paragraphs if part)
    return [Token("html_block", "", 0, content=html)]


def render_report(text: str, budget: int | None = RENDER_BUDGET) -> Rendering:
    """Render a message body to sanitised HTML, saying what it cost.

    The budget bounds the parser's steps, not the body's length: the time a render takes
    is bounded by the budget plus a cost linear in the length (splitting lines, escaping,
    sanitising) that is a few milliseconds at the default ``SUPPORTDESK_MAX_MESSAGE_LENGTH``
    of 12,000 characters. A host that raises that limit keeps the bound on Markdown
    parsing, but more of its long bodies will show as plain text, and the linear part
    grows with the limit.

    :param text: the message body (Markdown).
    :param budget: parser steps allowed; ``None`` removes the bound (benchmarks use it
        to measure the unbounded parser).
    """
    md = _parser()
    limit = sys.maxsize if budget is None else budget
    env: dict[str, t.Any] = {_BUDGET_KEY: limit}
    body = text or ""
    try:
        tokens = md.parse(body, env)
    except _BudgetExceeded:
        # The block structure alone is too dear (thousands of list items, say): nothing
        # of it can be trusted to be complete, so the whole body is shown as text.
        tokens = _plain_tokens(body)
    left = env[_BUDGET_KEY]
    html = md.renderer.render(tokens, md.options, env)
    clean = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel=_LINK_REL,
    )
    steps = limit - left if left >= 0 else limit + 1
    # Sanitised just above, whichever path made the HTML.
    return Rendering(html=Markup(clean), steps=steps, plain_text=left < 0)  # noqa: S704


def render(text: str) -> Markup:
    """Render a message body to sanitised HTML, within :data:`RENDER_BUDGET`.

    See :func:`render_report` for what the budget bounds and what happens past it.

    :param text: the message body (Markdown).
    """
    return render_report(text).html
