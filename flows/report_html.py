"""A report as one self-contained HTML file: charts drawn by matplotlib as inline SVG (no script, no font or
CDN to fetch, so it opens offline and anywhere), the numbers behind each chart as JSON beside it, and rejected
samples with the part that failed marked."""

import ast
import html
import io
import json
import re
from collections import Counter
from dataclasses import asdict
from typing import Any

from cotfactory.filters.parse import last_boxed
from cotfactory.flows.report_data import ReportData

CHARTS = {
    "funnel": (
        "Funnel",
        "Every sample by outcome: accepted, or the first check that rejected it and why. The bars add up to the "
        "samples in the report.",
    ),
    "difficulty": (
        "Difficulty",
        "Prompts by pass rate (the share of their samples accepted), in tenths: prompts at 0 were never solved, "
        "those at 0.9-1 nearly always; the ones in between are where more samples buy accepted traces.",
    ),
    "length": (
        "Length by outcome",
        "Completion length (tokens, or characters where the sampler gave no count) of the samples of each "
        "outcome, in twenty bins of the longest: truncated and looping samples pile up at the right.",
    ),
    "throughput": (
        "Throughput",
        "Samples judged per minute and tokens generated per second, over thirty equal spans of the stored "
        "judgement times: flat when the engine always had work, falling at the tail of the run.",
    ),
    "language": (
        "Language shares",
        "The target-language share of each reasoning (the language check's score), in tenths, by target "
        "language: R1's consistency measure. Samples below the threshold, or with a foreign fragment, fail.",
    ),
}
_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ddd; }
.summary td { padding: 0 1.5rem 0 0; } .chart svg { max-width: 100%; height: auto; }
details { border: 1px solid #ddd; border-radius: 4px; margin: .5rem 0; padding: .3rem .7rem; }
summary { cursor: pointer; font-weight: 600; } pre { white-space: pre-wrap; word-break: break-word;
background: #f7f7f7; padding: .6rem; max-height: 24rem; overflow: auto; }
mark { background: #ffd54a; } .why { color: #a00; }
"""


def _svg(draw: Any, width: float = 9, height: float = 3.6) -> str:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    draw(figure.add_subplot())
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]  # inline: without the XML prolog and doctype


def _funnel(axes: Any, rows: list[dict[str, Any]]) -> None:
    labels = [f"{row['check_name']}: {row['reason']}" if row["reason"] != "accepted" else "accepted" for row in rows]
    colors = ["#2e7d32" if label == "accepted" else "#c62828" for label in labels]
    axes.barh(labels[::-1], [row["samples"] for row in rows][::-1], color=colors[::-1])
    axes.set_xlabel("samples")


def _difficulty(axes: Any, rows: list[dict[str, Any]]) -> None:
    counts = {row["bin"]: row["prompts"] for row in rows}
    axes.bar([f"{b / 10:.1f}-{(b + 1) / 10:.1f}" for b in range(10)], [counts.get(b, 0) for b in range(10)])
    axes.set_xlabel("pass rate")
    axes.set_ylabel("prompts")


def _length(axes: Any, rows: list[dict[str, Any]]) -> None:
    by_outcome: dict[str, dict[int, int]] = {}
    top = max((row["top"] for row in rows), default=1)
    for row in rows:
        by_outcome.setdefault(row["outcome"], {})[row["bin"]] = row["samples"]
    centers = [(b + 0.5) * top / 20 for b in range(20)]
    for outcome, counts in by_outcome.items():
        axes.plot(centers, [counts.get(b, 0) for b in range(20)], marker="o", label=outcome)
    axes.set_xlabel("completion length")
    axes.set_ylabel("samples")
    axes.legend(fontsize="small")


def _throughput(axes: Any, rows: list[dict[str, Any]]) -> None:
    width = rows[0]["seconds"]
    starts = [row["bin"] * width for row in rows]
    axes.plot(starts, [row["samples"] * 60 / width for row in rows], marker="o", label="samples / minute")
    axes.set_xlabel("seconds since the first judgement")
    axes.set_ylabel("samples per minute")
    tokens = axes.twinx()
    tokens.plot(starts, [row["completion_tokens"] / width for row in rows], color="#888", label="tokens / s")
    tokens.set_ylabel("tokens per second", color="#888")


def _language(axes: Any, rows: list[dict[str, Any]]) -> None:
    by_language: dict[str, dict[int, int]] = {}
    for row in rows:
        by_language.setdefault(row["language"], {})[row["bin"]] = row["samples"]
    labels = [f"{b / 10:.1f}" for b in range(10)]
    bottom = [0] * 10
    for language, counts in by_language.items():
        heights = [counts.get(b, 0) for b in range(10)]
        axes.bar(labels, heights, bottom=bottom, label=language)
        bottom = [a + b for a, b in zip(bottom, heights, strict=True)]
    axes.set_xlabel("target-language share of the reasoning (from)")
    axes.set_ylabel("samples")
    if by_language:
        axes.legend(fontsize="small")


_DRAW = {
    "funnel": _funnel,
    "difficulty": _difficulty,
    "length": _length,
    "throughput": _throughput,
    "language": _language,
}
_DATA_OF = {"length": "length_bins"}  # the chart drawn from the bins; its summary table is data too


def _json_script(element_id: str, value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=True).replace("</", "<\\/")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def _marked(text: str, part: str | None) -> str:
    """`text` escaped, each occurrence of `part` in a <mark>."""
    if not part or part not in text:
        return html.escape(text)
    return f"<mark>{html.escape(part)}</mark>".join(html.escape(piece) for piece in text.split(part))


def _repeated_part(text: str, n: int = 10) -> str | None:
    """The line that repeats most, else the word n-gram that does: what a looping reasoning loops on."""
    lines = Counter(line.strip() for line in text.splitlines() if line.strip())
    if lines and (top := lines.most_common(1)[0])[1] > 1:
        return top[0]
    words = text.split()
    grams = Counter(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    if grams and (top := grams.most_common(1)[0])[1] > 1:
        return top[0]
    return None


def _failing_part(example: dict[str, Any]) -> str | None:
    """The part of the text the check objected to: named by its verdict, or the loop of a looping one."""
    detail = example.get("detail") or ""
    if example["reason"] == "repetition":
        return _repeated_part(example.get("reasoning") or example.get("completion") or "")
    quoted = re.search(r" with (?:[^:']*: )?('.*'|\".*\")$", detail)
    if quoted:
        try:
            return str(ast.literal_eval(quoted.group(1)))
        except (ValueError, SyntaxError):
            return None
    return None


def _example(example: dict[str, Any]) -> str:
    text = example["completion"] or ""
    why = html.escape(example.get("detail") or "")
    parts = [f"<summary>{html.escape(example['sample_id'])}</summary>", f"<p class=why>{why}</p>"]
    parts.append(f"<p><b>Problem:</b> {html.escape((example['problem'] or '')[:1000])}</p>")
    if example["reason"] in ("wrong_answer", "no_answer"):
        boxed = last_boxed(example["answer"] or "") or ""
        parts.append(
            f"<p><b>Answer:</b> <mark>{html.escape(boxed or (example['answer'] or '')[-200:])}</mark> "
            f"&nbsp; <b>Reference:</b> {html.escape(example['reference'] or '')}</p>"
        )
        body = _marked(text, f"\\boxed{{{boxed}}}" if boxed else None)
    elif example["reason"] in ("truncated", "unclosed_think", "too_long"):
        body = html.escape(text) + "<mark>⟂ the completion ends here</mark>"
    else:
        body = _marked(text, _failing_part(example))
    parts.append(f"<pre>{body}</pre>")
    return f"<details>{''.join(parts)}</details>"


def render_report(data: ReportData) -> str:
    """The whole report as one HTML document."""
    summary = data.summary
    judged = summary["samples"] - summary["target_met"]  # samples stopped at their prompt's target left out
    rate = f" ({summary['accepted'] / judged:.1%})" if judged and data.cost is None else ""  # a run's: its pass rate
    accepted = f"{summary['accepted']:,}{rate}"
    figures = [
        ("samples", f"{summary['samples']:,}"),
        ("accepted", accepted),
        ("prompts", f"{summary['prompts']:,}"),
        ("runs", f"{summary['runs']:,}"),
        ("completion tokens", f"{summary['completion_tokens']:,}"),
    ]
    cost = "" if data.cost is None else _json_script("data-cost", asdict(data.cost))
    figures += data.cost.figures() if data.cost else []  # a run's cost: GPU tokens per accepted trace first
    rows = "".join(f"<tr><td>{html.escape(name)}</td><td>{html.escape(value)}</td></tr>" for name, value in figures)
    sections = []
    for name, (heading, description) in CHARTS.items():
        points = data.charts[_DATA_OF.get(name, name)]
        chart = _svg(lambda axes, name=name, points=points: _DRAW[name](axes, points)) if points else "<p>no data</p>"
        sections.append(
            f'<section id="chart-{name}"><h2>{heading}</h2><p>{description}</p><div class=chart>{chart}</div>'
            f"{_json_script(f'data-{name}', data.charts[name])}</section>"
        )
    reasons: dict[str, list[str]] = {}
    for example in data.examples:
        reasons.setdefault(f"{example['check_name']}: {example['reason']}", []).append(_example(example))
    examples = "".join(f"<h3>{html.escape(reason)}</h3>{''.join(items)}" for reason, items in reasons.items())
    document = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>cotfactory report: {html.escape(data.title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>
<body><h1>cotfactory report: {html.escape(data.title)}</h1>
<table class=summary>{rows}</table>{_json_script("data-summary", summary)}{cost}
{"".join(sections)}
<section id="examples"><h2>Rejected samples</h2><p>A few samples of each rejection reason, with the part that
failed marked: the boxed answer beside the reference, the repeated line, the foreign fragment, where the
completion was cut.</p>{examples or "<p>none rejected</p>"}</section>
</body></html>
"""
    return document.encode("utf-8", "backslashreplace").decode("utf-8")
