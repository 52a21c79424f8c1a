"""Time the message renderer on pathological and ordinary bodies (HOSTILE "one customer
stalls everyone").

    .venv/bin/python bench/render.py              # bounded and unbounded, 5 runs each
    .venv/bin/python bench/render.py --runs 11 --length 12000 --no-before

Each body is rendered ``--runs`` times by ``flask_supportdesk.markup.render_report``:
"before" without a budget (markdown-it unbounded; the meters still count, a few per cent
of the time), "after" with ``RENDER_BUDGET``. The table gives the median and maximum
milliseconds, the parser steps spent and whether the body fell back to plain text.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import typing as t

from flask_supportdesk import markup

_PROSE = (
    "Hello, I ordered **two** of the *blue* kettles on 3 November (order 10234) but the "
    "parcel had only one, and its lid is cracked. The tracking page "
    "([here](https://shop.example/track/10234)) says delivered. Could you send the "
    "missing one, or refund it? I can send photos.\n\n"
)
_DENSE = (
    "Hello **world**, I ordered *two* items on 2026-11-03 but got one. See "
    "[the order](https://shop.example/orders/123) and `SKU-42`.\n\n"
    "- first item\n- second ~~item~~ thing\n\n> quoted reply line\n> another\n\n"
    "```\ncode block\n```\n\n"
)
_LOG = "2026-11-30 10:42:07 ERROR payment gateway timeout after 30s (retry 3/3)\n"


def _repeat(unit: str, length: int) -> str:
    return (unit * (length // len(unit) + 1))[:length]


def bodies(length: int) -> dict[str, str]:
    """The bodies to time, by name, each ``length`` characters long.

    :param length: characters per body (the default maximum message length is 12,000).
    """
    runs = {
        "[": "[", "![": "![", "[a](": "[a](", "[]": "[]", "](": "](", "[(": "[(",
        "[`": "[`", "[x][": "[x][", "[x][y ": "[x][y ", "[a": "[a", "[\\n": "[\n",
        "*": "*", "_": "_", "**a": "**a", "*a **a ***a": "*a **a ***a ", "*a\\n": "*a\n",
        "a*b_": "a*b_", "`a": "`a", "<": "<", "<a": "<a", "<a@b.c>": "<a@b.c>",
        "&": "&", "&#": "&#", ">": ">", "~~a": "~~a", "[a]: b": "[a]: b\n",
        "a\\n": "a\n", "a\\n\\n": "a\n\n", "- a": "- a\n", "1. a": "1. a\n",
        "> a\\n\\n": "> a\n\n", "# a": "# a\n", "| a |": "| a |\n",
        "punctuation": "[*_`<&>!](~)\\",
    }  # fmt: skip
    out = {f"run {name!s}": _repeat(unit, length) for name, unit in runs.items()}
    out["backticks 1..n"] = _repeat("".join("`" * i + "a" for i in range(1, 160)), length)
    out["nested lists"] = _repeat("".join(" " * (2 * i) + "- a\n" for i in range(60)), length)
    out["nested quotes"] = _repeat("".join("> " * i + "a\n" for i in range(1, 60)), length)
    out["ref defs, distinct"] = "".join(f"[r{i}]: /d{i}\n" for i in range(length))[:length]
    out["ordinary: one reply"] = _PROSE
    out["ordinary: prose"] = _repeat(_PROSE, length)
    out["ordinary: dense mix"] = _repeat(_DENSE, length)
    out["ordinary: log in code"] = "```\n" + _repeat(_LOG, length - 8) + "\n```"
    return out


def _time(text: str, runs: int, budget: int | None) -> tuple[float, float, markup.Rendering]:
    times = []
    result = markup.render_report(text, budget=budget)
    for _ in range(runs):
        start = time.perf_counter()
        markup.render_report(text, budget=budget)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times), result


def main(argv: t.Sequence[str] | None = None) -> None:
    """Print the table.

    :param argv: command line arguments (``sys.argv[1:]`` when ``None``).
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--length", type=int, default=12_000)
    parser.add_argument("--no-before", action="store_true", help="skip the unbounded runs")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load "
        f"{load:.2f}; budget {markup.RENDER_BUDGET} steps, {args.runs} runs per body"
    )
    header = f"| {'body':24} | chars | before med / max ms | after med / max ms | steps | text |"
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    worst = ("", 0.0)
    for name, text in bodies(args.length).items():
        before = "—"
        if not args.no_before:
            median, peak, _ = _time(text, args.runs, None)
            before = f"{median:8.1f} / {peak:7.1f}"
        median, peak, result = _time(text, args.runs, markup.RENDER_BUDGET)
        if median > worst[1]:
            worst = (name, median)
        fallback = "yes" if result.plain_text else ""
        print(
            f"| {name:24} | {len(text):5} | {before:>19} | {median:8.1f} / {peak:7.1f} "
            f"| {result.steps:5} | {fallback:4} |",
            flush=True,
        )
    print(f"worst median after: {worst[1]:.1f} ms ({worst[0]})")


if __name__ == "__main__":
    main()
