"""Answer equivalence vs the expected labels of Math-Verify's and lighteval's own test cases (../shared/data).

    python benchmarks/equivalence.py [--data ../shared/data] [--show-disagreements]

Each (gold, prediction, expected) case goes through cotfactory's correctness checks as a sample whose
reference is the gold and whose answer is the prediction (letter cases through the `choice` check). Where
an original test sets math-verify options (which extractors, precision, strictness, set relations), the
check gets the same options through its settings of the same names, as a user would set them in a run
config; every other case runs with the check's defaults. Target: agreement >= 0.98. The agreement is printed
under both settings of decimal approximations of closed forms (`approximation_digits`: the default 3, and 0 for
exact answers only); the headline is the default's.
"""

import argparse
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

from cotfactory.filters.chain import Chain
from cotfactory.filters.checks import Sample
from cotfactory.filters.correctness import MathVerify
from cotfactory.filters.runner import build_checks

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
LETTER_TYPES = {"NativeLetters", "IndicesExtractionConfig", "letters"}
DEFAULT_DIGITS = MathVerify().approximation_digits


def load_cases(data: Path) -> list[dict]:
    cases = []
    for name in ("math_verify.jsonl", "lighteval.jsonl"):
        for line in (data / "equiv" / name).read_text().splitlines():
            row = json.loads(line)
            if row.get("kind") == "gold_vs_pred" and isinstance(row.get("expected"), bool):
                cases.append(row)
    return cases


def resolve(value: Any, params: dict[str, Any]) -> Any:
    """A test's argument: a literal, a test parameter (`{"__expr__": "precision"}`) or an f-string of the
    test file (`f'{math.sqrt(17):.15f}'`), evaluated with only `math` in reach."""
    if isinstance(value, dict) and "__expr__" in value:
        expression = value["__expr__"]
        if expression in params:
            return params[expression]
        return eval(expression, {"__builtins__": {}, "math": math})  # the peer test file's own f-string literal
    return value


def check_settings(case: dict[str, Any], approximation_digits: int) -> dict[str, Any]:
    """The math_verify settings matching the original test's call: `match_types`, `precision`, ..."""
    kwargs, params = case.get("call_kwargs") or {}, case.get("params") or {}
    settings: dict[str, Any] = {"name": "math_verify", "timeout_s": 5, "approximation_digits": approximation_digits}
    extraction = [kind for kind in resolve(kwargs.get("match_types"), params) or [] if kind in ("latex", "expr")]
    if extraction:
        settings["extraction"] = tuple(extraction)
    if "precision" in kwargs:
        settings["float_rounding"] = resolve(kwargs["precision"], params)
    for name in ("strict", "allow_set_relation_comp"):
        if name in kwargs:
            settings[name] = resolve(kwargs[name], params)
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--show-disagreements", action="store_true")
    args = parser.parse_args()
    cases = load_cases(args.data)
    samples = []
    for case in cases:
        match_types = set(case.get("call_kwargs", {}).get("match_types") or [])
        domain = "choice" if match_types & LETTER_TYPES else "math"
        samples.append(
            Sample(
                problem="",
                completion=str(resolve(case["pred"], case.get("params") or {})),
                reasoning="",
                answer=str(resolve(case["pred"], case.get("params") or {})),
                think="untagged",
                reference=str(resolve(case["gold"], case.get("params") or {})),
                domain=domain,
            )
        )
    agreements = {}
    for digits in (0, DEFAULT_DIGITS):
        agreements[digits] = agreement(
            cases, samples, digits, show=args.show_disagreements and digits == DEFAULT_DIGITS
        )
    print(f"exact answers only (approximation_digits = 0): agreement {agreements[0]:.3f}")
    print(
        f"answer equivalence vs labels ({len(cases)} cases, approximation_digits = {DEFAULT_DIGITS}): "
        f"agreement ratio={agreements[DEFAULT_DIGITS]:.3f} (target >= 0.98)"
    )


def agreement(cases: list[dict], samples: list[Sample], digits: int, show: bool) -> float:
    """The share of cases whose decision equals the label, with `approximation_digits = digits`."""
    # Cases grouped by the settings their test used; one runner per group.
    groups: dict[str, list[int]] = {}
    for index, case in enumerate(cases):
        groups.setdefault(json.dumps(check_settings(case, digits), sort_keys=True), []).append(index)
    decisions: list[Any] = [None] * len(cases)
    for key, indices in groups.items():
        chain = build_checks(["choice", json.loads(key)])
        with Chain(chain, workers=2) as runner:
            for index, decision in zip(indices, runner.run([samples[i] for i in indices]), strict=True):
                decisions[index] = decision
    by_source: Counter[str] = Counter()
    agree_by_source: Counter[str] = Counter()
    disagreements = []
    for case, decision in zip(cases, decisions, strict=True):
        by_source[case["source"]] += 1
        if decision.accepted == case["expected"]:
            agree_by_source[case["source"]] += 1
        else:
            disagreements.append((case, decision))
    if digits == DEFAULT_DIGITS:
        for source in sorted(by_source):
            print(f"{source:12s} {agree_by_source[source]:4d}/{by_source[source]:4d} agree")
    if show:
        for case, decision in disagreements:
            print(
                f"  {case['source']} {case['test']} line {case['line']}: gold={case['gold']!r} "
                f"pred={str(case['pred'])[:80]!r} expected={case['expected']} ours={decision.reason or 'accepted'} "
                f"options={case.get('call_kwargs')}"
            )
    return sum(agree_by_source.values()) / len(cases)


if __name__ == "__main__":
    main()
