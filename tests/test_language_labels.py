"""The language check on answers with a formatting label in another language, under each setting of
`answer_labels`, and on clean reasoning in scripts without spaces (Thai, Japanese, Chinese) and in Cyrillic
and Greek around Latin math variables, which must not be flagged."""

import pytest

from cotfactory.filters.checks import Sample
from cotfactory.filters.language import LanguageConsistency

REASONING = {
    "bn": "আমরা প্রথমে দুটি সংখ্যা যোগ করি এবং তারপর ফলাফলটি তিন দিয়ে ভাগ করি। ",
    "zh": "我们先把两个数相加，然后把结果除以三。",
    "ru": "Сначала сложим два числа, а затем разделим результат на три. ",
    "th": "เราบวกสองจำนวนเข้าด้วยกันก่อน แล้วนำผลลัพธ์มาหารด้วยสาม ",
    "ja": "まず二つの数を足し、その結果を三で割ります。",
    "el": "Πρώτα προσθέτουμε τους δύο αριθμούς και μετά διαιρούμε το αποτέλεσμα με το τρία. ",
}
LABELS = ["**Final Answer:** $\\boxed{5}$", "### Final Answer\n$\\boxed{5}$", "The Final Answer: $\\boxed{5}$"]


def verdict(language: str, reasoning: str, answer: str, **settings: object) -> str | None:
    check = LanguageConsistency(**settings)  # type: ignore[arg-type]
    return check(Sample("p", reasoning, reasoning, answer, "tagged", target_language=language)).reason


@pytest.mark.parametrize("language", sorted(REASONING))
@pytest.mark.parametrize("answer", LABELS)
def test_a_foreign_label_under_each_policy(language: str, answer: str) -> None:
    reasoning = REASONING[language] * 8
    assert verdict(language, reasoning, answer) == "answer_language"  # the default: R1's rule
    assert verdict(language, reasoning, answer, answer_labels="allow") is None


@pytest.mark.parametrize("language", sorted(REASONING))
@pytest.mark.parametrize(
    "answer",
    [
        "The final answer is $\\boxed{5}$.",  # a sentence, no label
        "Final Answer: so we get five apples, $\\boxed{5}$",  # the label is allowed, the sentence after it is not
        "This is the answer we found here: $\\boxed{5}$",  # too many words for a label
    ],
)
def test_foreign_sentences_stay_flagged_when_labels_are_allowed(language: str, answer: str) -> None:
    assert verdict(language, REASONING[language] * 8, answer, answer_labels="allow") == "answer_language"


@pytest.mark.parametrize("language", sorted(REASONING))
def test_a_one_word_label_is_no_fragment_under_either_policy(language: str) -> None:
    for policy in ("reject", "allow"):
        assert verdict(language, REASONING[language] * 8, "Answer: $\\boxed{5}$", answer_labels=policy) is None


def test_an_unknown_label_policy_fails_when_the_check_is_built() -> None:
    with pytest.raises(ValueError, match="answer_labels"):
        LanguageConsistency(answer_labels="sometimes")


MATH = {
    "th": "ให้ x เป็นจำนวนจริง และ f(x) = x^2 + 1 ดังนั้น f(2) = 5 ",
    "ja": "xを実数とし、f(x) = x^2 + 1 とおくと、f(2) = 5 です。AM-GMより a + b ≥ 2√(ab)。",
    "zh": "设x为实数，f(x) = x^2 + 1，则f(2) = 5。由AM-GM不等式得a + b ≥ 2√(ab)。",
    "ru": "Пусть x — действительное число и f(x) = x^2 + 1, тогда f(2) = 5, а по AM-GM a + b ≥ 2√(ab). ",
    "el": "Έστω x πραγματικός αριθμός και f(x) = x^2 + 1, άρα f(2) = 5 και από AM-GM a + b ≥ 2√(ab). ",
    "bn": "ধরি x একটি বাস্তব সংখ্যা এবং f(x) = x^2 + 1, তাহলে f(2) = 5। ",
}


@pytest.mark.parametrize("language", sorted(MATH))
def test_clean_reasoning_with_latin_variables_is_not_flagged(language: str) -> None:
    reasoning = (REASONING[language] + MATH[language] + "$\\sin \\alpha = \\frac{1}{2}$ ") * 6
    assert verdict(language, reasoning, "$\\boxed{5}$") is None
