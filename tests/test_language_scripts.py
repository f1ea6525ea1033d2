"""The language check on any script: characters classified by what they are (Unicode Script_Extensions, CLDR's
language-to-script data), Unicode math that is no word at all, the answer held to the fragment rule, and quotes
exempt only where they are the target's script or quote the problem."""

import pytest

from cotfactory.filters.checks import Sample
from cotfactory.filters.language import LanguageConsistency
from cotfactory.filters.scripts import UnknownLanguage, language_scripts

CHECK = LanguageConsistency()

# One sentence of math reasoning per language, written for these tests: "First we find the sum of the two
# numbers, then we divide it by two."
SENTENCES = {
    "en": "First we find the sum of the two numbers, then we divide it by two. ",
    "zh": "首先我们求出两个数的和，然后把它除以二。",
    "ja": "まず二つの数の和を求めて、それから二で割ります。時々データをコンピューターで確認します。",
    "ko": "먼저 두 수의 합을 구한 다음 그것을 둘로 나눕니다. ",
    "ru": "Сначала найдём сумму двух чисел, а затем разделим её на два. ",
    "el": "Πρώτα βρίσκουμε το άθροισμα των δύο αριθμών και μετά το διαιρούμε με το δύο. ",
    "th": "ก่อนอื่นเราหาผลรวมของตัวเลขทั้งสอง แล้วจึงหารด้วยสอง ",
    "bn": "প্রথমে আমরা দুটি সংখ্যার যোগফল বের করি, তারপর সেটিকে দুই দিয়ে ভাগ করি। ",
    "hi": "पहले हम दोनों संख्याओं का योग निकालते हैं, फिर उसे दो से भाग देते हैं। ",
    "ar": "أولاً نجد مجموع العددين، ثم نقسم الناتج على اثنين. ",
    "he": "קודם נמצא את סכום שני המספרים, ואז נחלק אותו בשתיים. ",
    "ka": "ჯერ ვპოულობთ ორი რიცხვის ჯამს, შემდეგ ვყოფთ ორზე. ",
    "ta": "முதலில் இரண்டு எண்களின் கூட்டுத்தொகையைக் கண்டுபிடிப்போம், பின்னர் இரண்டால் வகுப்போம். ",
}
MATH = " $x^2 + y^2 = 25$, 2² × 3 = 12, x₁ + x₂ = 7. "
# A slip of two or more words of another language, as real traces make them.
SLIPS = {"en": "所以答案", "zh": "so the answer", "ja": "그래서 답은", "ru": "所以答案", "th": "so the answer",
         "bn": "所以答案", "hi": "так что ответ", "ar": "so the answer", "he": "所以答案", "ka": "так что ответ",
         "ta": "ஆனால் so the answer", "ko": "ですね、そして", "el": "so the answer"}  # fmt: skip


def sample(reasoning: str, language: str | None, answer: str = "$\\boxed{5}$", problem: str = "p") -> Sample:
    return Sample(problem, reasoning, reasoning, answer, "tagged", target_language=language)


@pytest.mark.parametrize("language", sorted(SENTENCES))
def test_clean_reasoning_in_thirteen_languages_passes(language: str) -> None:
    verdict = CHECK(sample((SENTENCES[language] + MATH) * 8, language))
    assert verdict.passed, verdict
    assert verdict.score == 1.0


@pytest.mark.parametrize("language", sorted(SENTENCES))
def test_a_slip_into_another_script_is_caught_in_every_language(language: str) -> None:
    text = (SENTENCES[language] + MATH) * 8
    middle = len(text) // 2
    verdict = CHECK(sample(text[:middle] + " " + SLIPS[language] + " " + text[middle:], language))
    assert verdict.reason == "language_mixed", verdict


def test_japanese_marks_count_as_japanese_and_not_as_chinese_slips() -> None:
    marks = "コンピューターで時々確認します。ちょっと待って、もう一度見てみましょう。"
    assert CHECK(sample(marks * 20, "ja")).passed
    # the same marks in Chinese reasoning are Japanese: kana is a slip there
    assert CHECK(sample(SENTENCES["zh"] * 10 + "ちょっと待って" + SENTENCES["zh"], "zh")).reason == "language_mixed"


@pytest.mark.parametrize(
    "math",
    ["2² × 3 = 12 and 5³ = 125", "x₁, y₁, x₂ and y₂", "a² + r² = c²", "ℝ → ℝ, ∀ε > 0 ∃δ", "𝑥 + 𝑦 = 𝑧",
     "├── case A ✓", "x ↦ x², ∑ᵢ aᵢ", "½ + ¼ = ¾", "the angle is 30° and ∠ABC = 90°"],
)  # fmt: skip
def test_unicode_math_outside_latex_is_not_a_foreign_word(math: str) -> None:
    reasoning = (SENTENCES["en"] + f"We have {math}, so we go on. ") * 3
    verdict = CHECK(sample(reasoning, "en"))
    assert verdict.passed and verdict.score == 1.0, verdict


def test_chinese_reasoning_with_english_math_terms_latex_identifiers_and_units_passes() -> None:
    reasoning = ("由 Vieta 定理，$x_1 + x_2 = 5$。用 sin 和 cos 表示，AM-GM 不等式给出 $a + b \\ge 2\\sqrt{ab}$。"
                 "调用 `np.linalg.det(M)`，长度是 21 cm，面积是 2² × 3。") * 6  # fmt: skip
    assert CHECK(sample(reasoning, "zh")).passed


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("The answer is $\\boxed{5}$.", None),
        ("所以答案是 $\\boxed{5}$.", "answer_language"),  # a whole Chinese sentence in an English answer
        ("Therefore the answer is 五个 apples, $\\boxed{5}$.", "answer_language"),
        ("So the number of apples is 5, i.e. $\\boxed{5}$ (答).", None),  # one character: below the fragment size
    ],
)
def test_the_answer_is_held_to_the_fragment_rule(answer: str, reason: str | None) -> None:
    verdict = CHECK(sample(SENTENCES["en"] * 10, "en", answer=answer))
    assert verdict.reason == reason, verdict
    lenient = LanguageConsistency(answer_fragments=False)
    mostly_english = "The answer is 五个 apples, which is $\\boxed{5}$ in all."
    assert lenient(sample(SENTENCES["en"] * 10, "en", answer=mostly_english)).passed
    assert not CHECK(sample(SENTENCES["en"] * 10, "en", answer=mostly_english)).passed


@pytest.mark.parametrize(
    ("quote", "problem", "reason"),
    [
        ('The problem calls it "勾股定理" here.', "证明勾股定理。Prove it.", None),  # quotes the problem
        ('I would call it "勾股定理" here.', "Prove the theorem.", "language_mixed"),  # a slip in quotes
        ("As they say, “所以答案” is what we need.", "p", "language_mixed"),
        ('The word "hypotenuse" is the longest side.', "p", None),  # the target's script
        ("問題文の「the sum」を使います。", "問題：the sum を求めよ。", None),  # Japanese quoting the problem
    ],
)
def test_quotes_are_exempt_only_in_the_targets_script_or_quoting_the_problem(
    quote: str, problem: str, reason: str | None
) -> None:
    language = "ja" if "問題" in quote else "en"
    base = SENTENCES[language] * 10
    verdict = CHECK(sample(base + quote + base, language, problem=problem))
    assert verdict.reason == reason, verdict


def test_languages_map_to_their_scripts_through_cldr() -> None:
    assert language_scripts("en") == {"Latn"}
    assert language_scripts("ja") == {"Hani", "Hira", "Kana"}
    assert language_scripts("ko") == {"Hang", "Hani"}
    assert language_scripts("zh-Hant") == {"Hani"}
    assert language_scripts("sr") == {"Cyrl"} and language_scripts("sr-Latn") == {"Latn"}
    assert language_scripts("pt_BR") == {"Latn"} and language_scripts("th") == {"Thai"}
    with pytest.raises(UnknownLanguage, match="'xx'"):
        language_scripts("xx")


def test_an_unknown_language_code_fails_when_the_config_loads(tmp_path) -> None:
    from run_configs import http_run_config, write_config

    from cotfactory.flows.config import ConfigError, load_config

    raw = http_run_config(tmp_path, "http://127.0.0.1:9/v1", prompts={"language": "klingon"})
    with pytest.raises(ConfigError, match=r"prompts\.language.*'klingon'"):
        load_config(write_config(tmp_path, raw))
