"""Language consistency on real sentences (lingua's test data in ../shared/data) and real traces.

    python benchmarks/language.py [--data ../shared/data] [--docs 400]

Builds 8 KB reasonings from real sentences: pure English (with LaTeX, Greek letters, units and code spans
added), pure Chinese (with LaTeX and English math terms), and the same with one short foreign fragment
planted: 2-15 Chinese or Japanese characters in English, 2-4 English words in Chinese. Prints precision and
recall of `language_mixed`, then checks the 800 real Qwen2.5-Math traces (3 end in multilingual garbage).
"""

import argparse
import json
import random
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
    print(f"language_mixed on planted fragments: precision ratio={precision:.3f}, recall={recall:.3f} (targets 1.0)")


if __name__ == "__main__":
    main()
