"""Language consistency: share of target-language words, short foreign fragments, the answer's language."""

import json
from pathlib import Path

import pytest

from cotfactory.filters.checks import Sample
from cotfactory.filters.language import LanguageConsistency, detect_language

EN = (
    "Let $f(x) = \\sin^2 x + \\cos^2 x$. By the identity, $f(x) = 1$ for every real $x$. "
    "The area is $3 \\times 7 = 21$ cm^2, so with $\\alpha = 30^\\circ$ and $\\theta$ the angle, we get "
    "$\\Delta = b^2 - 4ac$. In code, `np.linalg.det(M)` gives the determinant, and the helper `gcd_of_list` "
    "returns 6. The speed is 80 km/h, i.e. about 22.2 m/s. "
)
ZH = (
    "设 $f(x) = \\sin^2 x + \\cos^2 x$，由恒等式可知 $f(x) = 1$。由 AM-GM 不等式，$a + b \\ge 2\\sqrt{ab}$，当且仅当 "
    "$a = b$ 时取等号。长方形的面积是 21 cm，周长是 20。用 sin 和 cos 表示，角 α 等于 30 度。因此答案是 13。"
)


def sample(reasoning: str, *, answer: str = "\\boxed{13}", language: str | None = None, problem: str = "p") -> Sample:
    return Sample(problem, reasoning, reasoning, answer, "tagged", target_language=language)


CHECK = LanguageConsistency()
CASES = [
    ("pure english with latex, code, greek, units", EN * 10, "en", None),
    ("pure chinese with latex and math terms", ZH * 10, "zh", None),
    ("two chinese characters in english", EN * 10 + "因此 the result follows.", "en", "language_mixed"),
    ("long chinese phrase in english", EN * 5 + "我们需要重新检查一下" + EN * 5, "en", "language_mixed"),
    ("one stray character", EN * 10 + "烯 appears once.", "en", None),
    ("japanese kana in english", EN * 10 + "ですね", "en", "language_mixed"),
    ("korean in english", EN * 10 + "겠습니다 then", "en", "language_mixed"),
    ("russian words in english", EN * 10 + "так что the sum is 4.", "en", "language_mixed"),
    ("quoted chinese the problem does not say", EN * 10 + 'I think "求和" means sum.', "en", "language_mixed"),
    ("english sentence in chinese", ZH * 10 + "Let me double check this.", "zh", "language_mixed"),
    ("english words inside chinese math", ZH * 10 + "由 Vieta 定理，x 与 y 的和为 5。", "zh", None),
    ("half english half chinese", ZH + " ".join(["word"] * 200), "zh", "language_mixed"),
]


@pytest.mark.parametrize(("reasoning", "language", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_language_cases(reasoning: str, language: str, reason: str | None) -> None:
    verdict = CHECK(sample(reasoning, language=language))
    assert verdict.reason == reason, verdict.detail


def test_share_is_the_score_and_a_fragment_is_flagged_above_the_share_threshold() -> None:
    verdict = CHECK(sample(EN * 30 + "因此 yes", language="en"))
    assert verdict.reason == "language_mixed"
    assert verdict.score > 0.99, "the share alone would have kept it"
    assert "因此" in verdict.detail
    lenient = LanguageConsistency(min_fragment=3)
    assert lenient(sample(EN * 30 + "因此 yes", language="en")).passed


def test_target_detected_from_the_problem() -> None:
    assert detect_language("小明有 15 个苹果，送给同学 6 个。他现在有多少个苹果？") == "zh"
    assert detect_language("What is $\\frac{1}{2}$ of 10?") == "en"
    assert detect_language("りんごが3つあります。いくつですか。") == "ja"
    verdict = CHECK(sample(EN * 5, problem="小明有多少个苹果？"))
    assert verdict.reason == "language_mixed", "english reasoning for a chinese problem"


def test_answer_in_another_language() -> None:
    verdict = CHECK(sample(ZH * 5, answer="The final answer is $\\boxed{13}$.", language="zh"))
    assert verdict.reason == "answer_language"
    assert CHECK(sample(ZH * 5, answer="答案是 $\\boxed{13}$。", language="zh")).passed


@pytest.mark.realdata
def test_real_traces_with_garbage_tails_are_flagged(shared_data: Path) -> None:
    rows = [json.loads(line) for line in (shared_data / "traces/qwen25math_cot_maj8/traces.jsonl").open()]
    flagged = {row["id"] for row in rows if not CHECK(sample(row["trace"], problem=row["problem"])).passed}
    assert flagged == {"qwen25math_cot_maj8#25/1", "qwen25math_cot_maj8#45/5", "qwen25math_cot_maj8#48/3"}


def test_dollar_amounts_do_not_hide_text_from_the_check() -> None:
    text = EN * 3 + "She sells eggs at $2 per egg. 因此 the total is $18. Then $x = 3$ and " + EN
    verdict = CHECK(sample(text, language="en"))
    assert verdict.reason == "language_mixed" and "因此" in verdict.detail


GERMAN = "Dann addieren wir die beiden Zahlen und erhalten das Ergebnis. "
ENGLISH = "Then we add the two numbers and we get the result. "


def test_same_script_languages_are_told_apart_with_lingua() -> None:
    check = LanguageConsistency(same_script=("en", "de"))
    mixed = check(sample(EN * 5 + GERMAN + EN * 5, language="en"))
    assert mixed.reason == "language_mixed" and "with de:" in mixed.detail and mixed.score < 1.0
    assert check(sample(EN * 10 + ENGLISH * 5, language="en")).passed
    assert check(sample(("$x = 4$. " + GERMAN) * 10, language="de")).passed
    assert CHECK(sample(EN * 5 + GERMAN + EN * 5, language="en")).passed, "script counting alone cannot tell"


def test_unknown_same_script_language_fails_at_config_time() -> None:
    from cotfactory.filters.checks import CheckSetupError
    from cotfactory.filters.runner import build_checks

    with pytest.raises(CheckSetupError, match="does not know"):
        build_checks([{"name": "language", "same_script": ["en", "xx"]}])
