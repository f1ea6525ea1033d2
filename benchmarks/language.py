"""Language consistency on real sentences (lingua's test data in ../shared/data) and real traces.

    python benchmarks/language.py [--data ../shared/data] [--docs 400]

Builds 8 KB reasonings from real sentences: pure English (with LaTeX, Greek letters, units and code spans
added), pure Chinese (with LaTeX and English math terms), and the same with one short foreign fragment
planted: 2-15 Chinese or Japanese characters in English, 2-4 English words in Chinese. Prints precision and
recall of `language_mixed`, then checks the 800 real Qwen2.5-Math traces (3 end in multilingual garbage).

Then a realistic mix built from ../shared/data, with false flags and recall printed apart for reasoning and
answers: the 797 clean real traces with their LaTeX written as Unicode math outside LaTeX, as R1-distill
models often write it (`x^2` as x², `x_1` as x₁, `\\times` as ×, `\\to` as →), each split into reasoning and
answer at its last paragraph; the same with a real Chinese sentence or a 2-8 character fragment in the
answer, or with a Chinese term in quotation marks in the reasoning (a slip: the problem does not contain it);
and real Chinese OlymMATH problems whose English reasoning quotes a term of the problem (allowed).
"""

import argparse
import json
import random
import re
from pathlib import Path

from cotfactory.filters.checks import Sample
from cotfactory.filters.language import LanguageConsistency

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MATH_EN = " So $\\alpha + \\beta = \\frac{\\pi}{2}$, the side is 12 cm and `f(x)` returns 3. "
MATH_ZH = " 由 AM-GM 不等式，$a + b \\ge 2\\sqrt{ab}$，其中 sin x 的最大值为 1。"


def lines(data: Path, kind: str, language: str) -> list[str]:
    path = data / "langid" / "lingua_testdata" / kind / f"{language}.txt"
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def reasoning(rng: random.Random, sentences: list[str], math: str, size: int = 8000) -> list[str]:
    """Sentences (with math now and then) adding up to about `size` characters."""
    parts: list[str] = []
    while sum(map(len, parts)) < size:
        parts.append(rng.choice(sentences))
        if rng.random() < 0.3:
            parts.append(math)
    return parts


def cjk_fragment(rng: random.Random, sentences: list[str]) -> str:
    chars = [c for c in rng.choice(sentences) if "\u3040" <= c <= "\u9fff"]
    length = rng.randint(2, min(15, max(2, len(chars))))
    start = rng.randint(0, max(0, len(chars) - length))
    return "".join(chars[start : start + length])


def plant(rng: random.Random, parts: list[str], fragment: str) -> str:
    """The fragment between two sentences (not inside math, code or quotes, where it would be allowed)."""
    at = rng.randint(0, len(parts))
    return " ".join([*parts[:at], fragment, *parts[at:]])


_SUPERSCRIPTS = str.maketrans("0123456789n+-", "⁰¹²³⁴⁵⁶⁷⁸⁹ⁿ⁺⁻")
_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_SYMBOLS = {"\\times": "×", "\\cdot": "·", "\\to": "→", "\\le": "≤", "\\ge": "≥", "\\neq": "≠",
            "\\infty": "∞", "\\pi": "π", "\\sqrt": "√", "\\approx": "≈", "\\pm": "±", "\\Rightarrow": "⇒"}  # fmt: skip


def unicode_math(text: str) -> str:
    """The trace with its inline LaTeX written as plain Unicode math: delimiters dropped, powers and indices as
    super- and subscripts, operators as their symbols."""

    def plain(found: re.Match[str]) -> str:
        math = found.group(1) or found.group(2) or ""
        math = re.sub(r"\^\{?([0-9n+-]{1,3})\}?", lambda m: m.group(1).translate(_SUPERSCRIPTS), math)
        math = re.sub(r"_\{?([0-9]{1,2})\}?", lambda m: m.group(1).translate(_SUBSCRIPTS), math)
        for command, symbol in _SYMBOLS.items():
            math = math.replace(command, symbol)
        return math

    return re.sub(r"\\\((.{1,120}?)\\\)|\$([^$\n]{1,120})\$", plain, text)


def split_answer(trace: str) -> tuple[str, str]:
    """Reasoning and answer of a trace without think tags: the answer is its last paragraph."""
    head, _, tail = trace.strip().rpartition("\n\n")
    return (head, tail) if head else (trace, "")


def realistic_mix(data: Path, rng: random.Random, zh: list[str], check: LanguageConsistency) -> None:
    """False flags and recall on real traces, for reasoning and answers apart."""
    traces = data / "traces" / "qwen25math_cot_maj8" / "traces.jsonl"
    rows = [json.loads(line) for line in traces.read_text().splitlines() if line.strip()]
    garbage = {"qwen25math_cot_maj8#25/1", "qwen25math_cot_maj8#45/5", "qwen25math_cot_maj8#48/3"}
    clean = [row for row in rows if row["id"] not in garbage]
    olym = [json.loads(line) for line in (data / "problems/olymmath_en_zh/OlymMATH-ZH-EASY.jsonl").open()]
    figures: dict[str, list[int]] = {}  # kind -> [flagged, total]

    def judge(kind: str, problem: str, reasoning: str, answer: str, reason: str) -> None:
        verdict = check(Sample(problem, reasoning, reasoning, answer, "tagged", target_language="en"))
        figures.setdefault(kind, [0, 0])
        figures[kind][0] += verdict.reason == reason if reason else not verdict.passed
        figures[kind][1] += 1

    for row in clean:
        reasoning, answer = split_answer(unicode_math(row["trace"]))
        judge("clean reasoning, Unicode math", row["problem"], reasoning, answer, "")
        sentence = rng.choice(zh)
        judge("answer + Chinese sentence", row["problem"], reasoning, f"{answer} {sentence}", "answer_language")
        fragment = cjk_fragment(rng, zh)[:8]
        judge("answer + Chinese fragment", row["problem"], reasoning, f"{answer[:60]} {fragment} {answer[60:]}",
              "answer_language")  # fmt: skip
        quoted = f'{reasoning[:200]} Here "{cjk_fragment(rng, zh)[:6]}" means the total. {reasoning[200:]}'
        judge("quoted Chinese slip in reasoning", row["problem"], quoted, answer, "language_mixed")
    for problem in olym:
        term = next((w for w in re.findall(r"[\u4e00-\u9fff]{2,6}", problem["problem"])), None)
        if term is None:
            continue
        reasoning = f'The problem asks about "{term}", that is, the quantity we need. ' + " ".join(rng.sample(
            [split_answer(unicode_math(r["trace"]))[0] for r in clean[:50]], 3))  # fmt: skip
        judge("quoting the problem's own term", problem["problem"], reasoning, "So the answer is $\\boxed{1}$.", "")
    for kind, (flagged, total) in figures.items():
        rate = flagged / total
        what = "false flags" if kind.startswith(("clean", "quoting")) else "recall"
        print(f"{kind:34s} {what} {flagged:4d}/{total} = {rate:.3f}")
    false_reasoning = figures["clean reasoning, Unicode math"][0] / figures["clean reasoning, Unicode math"][1]
    answer_recall = sum(figures[k][0] for k in figures if k.startswith("answer")) / sum(
        figures[k][1] for k in figures if k.startswith("answer"))  # fmt: skip
    print(f"realistic mix: reasoning false-flag rate {false_reasoning:.4f} (target <= 0.002), "
          f"answer slip recall {answer_recall:.3f} (target >= 0.95)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--docs", type=int, default=400)
    args = parser.parse_args()
    rng = random.Random(0)
    en, zh, ja, de = (lines(args.data, "sentences", lang) for lang in ("en", "zh", "ja", "de"))
    en_pairs = lines(args.data, "word-pairs", "en")
    check = LanguageConsistency()
    same_script = LanguageConsistency(same_script=("en", "de"))
    cases: list[tuple[str, str, str, bool]] = []  # (kind, text, language, mixed)
    for _ in range(args.docs):
        cases.append(("en pure", " ".join(reasoning(rng, en, MATH_EN)), "en", False))
        cases.append(("zh pure", " ".join(reasoning(rng, zh, MATH_ZH, 4000)), "zh", False))
        cases.append(("en + zh fragment", plant(rng, reasoning(rng, en, MATH_EN), cjk_fragment(rng, zh)), "en", True))
        cases.append(("en + ja fragment", plant(rng, reasoning(rng, en, MATH_EN), cjk_fragment(rng, ja)), "en", True))
        words = " ".join(rng.choice(en_pairs) for _ in range(rng.randint(1, 2)))
        cases.append(("zh + en words", plant(rng, reasoning(rng, zh, MATH_ZH, 4000), words), "zh", True))
        # same script: needs lingua (same_script=("en", "de")); a German sentence of 4+ words
        german = rng.choice([sentence for sentence in de if len(sentence.split()) >= 4])
        cases.append(("en pure [en,de]", " ".join(reasoning(rng, en, MATH_EN)), "en", False))
        cases.append(
            ("de pure [en,de]", " ".join(reasoning(rng, de, MATH_EN.replace("returns", "ergibt"))), "de", False)
        )
        cases.append(("en + de sentence", plant(rng, reasoning(rng, en, MATH_EN), german), "en", True))
    flagged_by_kind: dict[str, list[int]] = {}
    true_positive = false_positive = positives = 0
    for kind, text, language, mixed in cases:
        chosen = same_script if "[en,de]" in kind or kind == "en + de sentence" else check
        verdict = chosen(Sample("", text, text, "", "tagged", target_language=language))
        flagged = verdict.reason == "language_mixed"
        flagged_by_kind.setdefault(kind, [0, 0])
        flagged_by_kind[kind][0] += flagged
        flagged_by_kind[kind][1] += 1
        positives += mixed
        true_positive += flagged and mixed
        false_positive += flagged and not mixed
    for kind, (flagged, total) in flagged_by_kind.items():
        print(f"{kind:18s} flagged {flagged:4d}/{total}")
    traces = args.data / "traces" / "qwen25math_cot_maj8" / "traces.jsonl"
    rows = [json.loads(line) for line in traces.read_text().splitlines() if line.strip()]
    garbage = sorted(
        row["id"] for row in rows if not check(Sample(row["problem"], row["trace"], row["trace"], "", "tagged")).passed
    )
    print(f"real traces flagged: {len(garbage)}/{len(rows)}: {', '.join(garbage)}")
    precision = true_positive / max(1, true_positive + false_positive)
    recall = true_positive / max(1, positives)
    realistic_mix(args.data, rng, zh, check)
    print(f"language_mixed on planted fragments: precision ratio={precision:.3f}, recall={recall:.3f} (targets 1.0)")


if __name__ == "__main__":
    main()
