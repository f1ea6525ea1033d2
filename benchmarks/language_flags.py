"""False flags of the language check on clean multilingual text from ../shared/data, each remaining flag shown.

    python benchmarks/language_flags.py [--data ../shared/data]

Clean reasonings: lingua's real sentences (en, de, ja, zh; 8 sentences each, with a Latin math variable
phrase between them), real Chinese problems (CMATH, OlymMATH-ZH, CN middle school) as Chinese reasoning, and
each of those with `**Final Answer:** $\\boxed{5}$` as the answer under `answer_labels = "allow"`. None of it
mixes languages, so every flag is false; each is printed with its detail. Target: no false flag.
"""

import argparse
import json
from pathlib import Path

from cotfactory.filters.checks import Sample
from cotfactory.filters.language import LanguageConsistency

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
VARIABLES = {"en": " Let x = 2 and f(x) = x^2. ", "de": " Sei x = 2 und f(x) = x^2. ",
             "ja": "xを2とし、f(x) = x^2 とおく。", "zh": "设x = 2，f(x) = x^2。"}  # fmt: skip
PROBLEMS = ("cmath_zh/cmath.jsonl", "olymmath_en_zh/OlymMATH-ZH-EASY.jsonl", "olymmath_en_zh/OlymMATH-ZH-HARD.jsonl",
            "cn_middle_school_zh/cn_middle_school.jsonl")  # fmt: skip


def clean_texts(data: Path) -> list[tuple[str, str, str]]:
    """(suite, language, reasoning) for every clean text."""
    texts = []
    for language, between in VARIABLES.items():
        path = data / "langid" / "lingua_testdata" / "sentences" / f"{language}.txt"
        sentences = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        for start in range(0, len(sentences) - 7, 8):
            texts.append((f"lingua {language}", language, between.join(sentences[start : start + 8])))
    for name in PROBLEMS:
        path = data / "problems" / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            row = json.loads(line)
            problem = row.get("question") or row.get("problem") or ""
            if problem:
                texts.append((name.split("/")[0], "zh", problem))
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    texts = clean_texts(args.data)
    check = LanguageConsistency(answer_labels="allow")
    flags: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    for suite, language, reasoning in texts:
        counts[suite] = counts.get(suite, 0) + 1
        for answer in ("$\\boxed{5}$", "**Final Answer:** $\\boxed{5}$"):
            verdict = check(Sample("p", reasoning, reasoning, answer, "tagged", target_language=language))
            if not verdict.passed:
                flags.setdefault(suite, []).append(f"{verdict.reason}: {verdict.detail}")
    for suite in sorted(counts):
        print(f"{suite:22s} {len(flags.get(suite, [])):3d} false flags on {2 * counts[suite]:5d} samples")
        for flag in flags.get(suite, [])[:10]:
            print(f"    {flag[:150]}")
    total = sum(counts.values()) * 2
    wrong = sum(len(found) for found in flags.values())
    print(f"clean multilingual samples passed: ratio={(total - wrong) / total:.3f} (target 1.00)")


if __name__ == "__main__":
    main()
