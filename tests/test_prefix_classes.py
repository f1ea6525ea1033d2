"""The places where a prefix reads differently from the whole text, by class: a watch aborts only what no
continuation can save (spans, quotes, money, URLs and words still open at the end of the prefix; whitespace
before a closing tag; a template-opened reasoning with a literal tag; a server's reasoning interleaved with its
content), and still aborts a real slip, loop or wall of text early. Each accepted case passes its check whole and
no prefix of it, in any chunking, fails the watch."""

import random

import pytest
from test_prefix_watches import chunked
from test_stream_abort import FILLER, LINE, PROBLEM, paragraphs, r1

from cotfactory.filters.chain import Chain
from cotfactory.filters.checks import Sample
from cotfactory.filters.prefix import PromptContext, StreamJudge
from cotfactory.filters.runner import build_checks

ZH = "请用三元运算符写出取较大值的表达式，并说明结果。"
QUOTING = "What does the phrase 你好世界 mean in English? Answer in words please."
SLIP = "然后我们检查一下这个结果。"
LONG_PARAGRAPH = {"name": "long_paragraph", "max_chars": 3000}
LINES_ONLY = {"name": "repetition", "max_ratio": 1.0}  # the repeated-line rule alone, not the n-gram share

# (id, problem, completion, the checks): accepted by its checks whole, never doomed part way
ACCEPTED = [
    (
        "inline code holding a sentence end",
        ZH,
        "<think>\n我们写 `x = c ? left : right` 即可。\n</think>\n\n答案是 `max`。",
    ),
    ("inline code holding a CJK stop", PROBLEM, r1(["We call `f。你好` now and move on."])),
    ("a URL holding CJK stops", PROBLEM, r1(["See https://zh.wikipedia.org/wiki/你好。世界 for details."])),
    ("money before inline math", PROBLEM, r1(["It costs $5 apples. Then $ 你好。$ is fine."])),
    ("money inside a sentence", PROBLEM, r1(["It cost US$ 5 to buy, and $你好？$ is a formula."])),
    ("inline math past the 300-character limit", PROBLEM, r1(["Let $" + "a+" * 160 + "b$。你好$ end."])),
    ("a dollar alone on its line", PROBLEM, r1(["Price $x.\nThen $。你好$ ok."])),
    ("a quote alone on its line", QUOTING, r1(['A "x.\nB "。你好世界" end.'])),
    ("a quote past the 200-character limit", QUOTING, r1(['The book says "' + "word " * 42 + '". 你好世界" is it.'])),
    ("a quote mark inside code", QUOTING, r1(['Type `"` then "。你好世界" ok.'])),
    ("a closer before its opener", PROBLEM, r1(["Note \\) here \\( 你好。世界 \\) ok."])),
    ("curly quotes closing before opening", QUOTING, r1(["a ” b “ 你好世界。” c."])),
    ("environments of other names", PROBLEM, r1(["\\begin{a} X \\end{b}. 你好世界。 \\end{a} ok."])),
    ("display math across paragraphs", PROBLEM, r1(["We have $$\n\\text{面积}。\n\n= 42\n$$ done."])),
    ("a quote of the problem with a stop inside", QUOTING, r1(['He said "你好。世界" there, meaning hello world.'])),
]


def judge_of(chain: Chain, problem: str, *, opened: bool = False) -> StreamJudge:
    judge = chain.stream_judge(PromptContext(problem, "math"), opened_by_template=opened)
    assert judge is not None
    return judge


def first_failure(judge: StreamJudge, pieces: list[str]) -> tuple[str, str | None, int] | None:
    for piece in pieces:
        if (failure := judge.feed(piece)) is not None:
            return failure[0], failure[1].reason, len(judge.text)
    return None


def chunkings(text: str, seed: str, *, whole: bool = True) -> list[list[str]]:
    """The text whole (unless `whole` is false: where a failure is found then says nothing), a character at a
    time, and in random pieces."""
    rng = random.Random(seed)
    return [*([[text]] if whole else []), list(text), *(chunked(text, rng) for _ in range(6))]


@pytest.mark.parametrize(("case", "problem", "text"), ACCEPTED, ids=[case[0] for case in ACCEPTED])
def test_a_span_or_quote_the_check_reads_whole_never_aborts_a_prefix(case: str, problem: str, text: str) -> None:
    with Chain(build_checks(["language"]), workers=0) as chain:
        (whole,) = chain.run([Sample.from_completion(problem, text, finish_reason="stop")])
        assert whole.accepted, whole.verdicts
        for pieces in chunkings(text, case):
            assert first_failure(judge_of(chain, problem), pieces) is None


# (id, the paragraph that slips, its domain): text the check reads around is settled, so the slip is aborted
SLIPS = [
    ("after inline code", f"We write `x` here. {SLIP}", "math"),
    ("after inline math", f"So $x = 42$ holds. {SLIP}", "math"),
    ("after money", f"It costs $5 apples. {SLIP}", "math"),
    ("after a URL", f"See https://example.org/a for details. {SLIP}", "math"),
    ("after an environment", f"\\begin{{aligned}} x &= 42 \\end{{aligned}} {SLIP}", "math"),
    ("after a fence", f"```python\nx = 42\n```\n\n{SLIP}", "code"),
    ("after a quote", f'We call it "the product". {SLIP}', "math"),
    ("without a stop", SLIP.rstrip("。") * 12, "math"),
    ("over single newlines", "\n".join([SLIP.rstrip("。")] * 12), "math"),
]


@pytest.mark.parametrize(("case", "slip", "domain"), SLIPS, ids=[case[0] for case in SLIPS])
def test_a_slip_after_settled_text_is_aborted_where_it_is(case: str, slip: str, domain: str) -> None:
    text = r1([*paragraphs(3), slip, *paragraphs(300)])
    slip_ends = text.index(slip) + len(slip)
    with Chain(build_checks(["language", "code_in_reasoning"]), workers=0) as chain:
        for pieces in chunkings(text, case, whole=False):
            judge = chain.stream_judge(PromptContext(PROBLEM, domain))
            assert judge is not None
            failure = first_failure(judge, pieces)
            assert failure is not None and failure[:2] == ("language", "language_mixed")
            assert failure[2] <= slip_ends + 3_000, "stopped within its paragraph, not at the end of the sample"


def test_a_long_line_said_too_often_fails_even_beside_a_longer_line_said_less() -> None:
    longer = "Recheck: " + " ".join(paragraphs(2, 9))
    rest = paragraphs(40, 5)
    text = r1([*paragraphs(2), *[longer] * 3, *[LINE] * 4, *rest])
    with Chain(build_checks([LINES_ONLY]), workers=0) as chain:
        (whole,) = chain.run([Sample.from_completion(PROBLEM, text, finish_reason="stop")])
        assert (whole.check, whole.reason) == ("repetition", "repetition") and "4 times" in whole.verdicts[
            "repetition"
        ].detail
        failure = first_failure(judge_of(chain, PROBLEM), list(text))
        assert failure is not None and failure[2] < text.index(rest[0]) + 16, "stopped as its paragraph settled"


@pytest.mark.parametrize("said", [3, 4])
def test_lines_of_one_paragraph_are_counted_as_they_end(said: int) -> None:
    """A loop without blank lines is stopped at its fourth line, long before its paragraph ends; three are fine."""
    loop = "\n".join([LINE] * said + paragraphs(40, 7))
    text = r1([*paragraphs(2), loop, *paragraphs(5, 8)])
    with Chain(build_checks([LINES_ONLY]), workers=0) as chain:
        (whole,) = chain.run([Sample.from_completion(PROBLEM, text, finish_reason="stop")])
        assert whole.accepted == (said == 3)
        for pieces in chunkings(text, f"loop{said}", whole=False):
            failure = first_failure(judge_of(chain, PROBLEM), pieces)
            if said == 3:
                assert failure is None
            else:
                assert failure is not None and failure[2] <= text.index(LINE) + said * (len(LINE) + 1) + 8 + 40


def test_a_paragraph_is_too_long_before_it_ends_but_not_for_the_whitespace_after_it() -> None:
    wall = " ".join([FILLER] * 60)
    walled = r1([*paragraphs(2), wall, *paragraphs(5)])
    exact = "<think>\n" + ("x" * 99 + " ") * 29 + "x" * 100 + "  \n\n</think>\n\n\\boxed{42}"
    with Chain(build_checks([LONG_PARAGRAPH]), workers=0) as chain:
        for pieces in chunkings(walled, "wall", whole=False):
            failure = first_failure(judge_of(chain, PROBLEM), pieces)
            assert failure is not None and failure[2] < walled.index(wall) + 3_100, "stopped inside the wall"
        (whole,) = chain.run([Sample.from_completion(PROBLEM, exact, finish_reason="stop")])
        assert whole.accepted, "3,000 characters: at the limit, the whitespace before the closing tag stripped"
        for pieces in chunkings(exact, "exact"):
            assert first_failure(judge_of(chain, PROBLEM), pieces) is None


def test_a_literal_think_tag_in_a_template_opened_reasoning_is_not_reasoning() -> None:
    text = "Okay, let me start.\n\n<think>\n" + "y" * 2_995 + "\n</think>\n\n\\boxed{42}"
    with Chain(build_checks([LONG_PARAGRAPH, "language"]), workers=0) as chain:
        sample = Sample.from_completion(PROBLEM, text, opened_by_template=True, finish_reason="stop")
        assert chain.run([sample])[0].accepted
        for pieces in chunkings(text, "opened"):
            assert first_failure(judge_of(chain, PROBLEM, opened=True), pieces) is None


def test_a_server_s_content_arriving_between_reasoning_pieces_does_not_end_the_reasoning() -> None:
    with Chain(build_checks(["language"]), workers=0) as chain:
        reasoning = 'He said "你好世界" twice. Then we compute.'
        sample = Sample.from_completion(QUOTING, "\nIt means hello world.", reasoning=reasoning, finish_reason="stop")
        assert chain.run([sample])[0].accepted
        judge = judge_of(chain, QUOTING)
        assert judge.feed(reasoning='He said "你好') is None
        assert judge.feed(text="\n") is None
        assert judge.feed(reasoning='世界" twice. Then we compute.') is None
        assert judge.feed(text="It means hello world.") is None


def test_an_untagged_prefix_is_audited_as_its_stream_read_it() -> None:
    """The store does not keep whether the template opened the reasoning: a prefix without a tag is read both
    ways, and the way that gives its recorded check is how its stream was read."""
    text = (LINE + "\n") * 4 + "x " * 600
    checks = ["repetition", {"name": "too_long", "max_chars": 1000}]
    with Chain(build_checks(checks), workers=0) as chain:
        failure = first_failure(judge_of(chain, PROBLEM, opened=False), list(text))
        assert failure is not None and failure[0] == "too_long"
        prefix = text[: failure[2]]
        (decision,) = chain.run([Sample.from_completion(PROBLEM, prefix, finish_reason="aborted:too_long")])
        assert (decision.check, decision.reason) == ("too_long", "too_long")
        opened = first_failure(judge_of(chain, PROBLEM, opened=True), list(text))
        assert opened is not None and opened[0] == "repetition"
        cut = Sample.from_completion(PROBLEM, text[: opened[2]], finish_reason="aborted:repetition")
        (decision,) = chain.run([cut])
        assert (decision.check, decision.reason) == ("repetition", "repetition")


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "body",
    [
        " ".join(paragraphs(20_000, 3)),  # 2 MB of prose, few breaks
        "a\n\n" + " " * 400_000,  # a blank line that keeps growing
        "a" + "\n" * 200_000,
        "$$ " + "。" * 200_000,  # display math never closed, many tiny sentences
        "你好" * 200_000,  # a slip without a stop, never certain? it is: no span is open
    ],
    ids=["prose", "growing-blank", "newlines", "open-span", "cjk-run"],
)
def test_a_long_stream_fed_in_small_pieces_is_judged_in_one_pass(body: str) -> None:
    """A hang guard, not a timing: fed 4 characters at a time, these took minutes to hours when each piece was
    added by copying the text so far or scanning its whitespace again (see benchmarks/stream_judge.py)."""
    checks = [
        "repetition",
        "think_format",
        {"name": "long_paragraph", "max_chars": 10**9},
        {"name": "code_in_reasoning", "max_blocks": 10**9},
        "language",
    ]
    text = "<think>\n" + body
    with Chain(build_checks(checks), workers=0) as chain:
        judge = judge_of(chain, PROBLEM)
        for start in range(0, len(text), 4):
            if judge.feed(text[start : start + 4]) is not None:
                break
        assert judge.failure is None or judge.failure[0] == "language"


SOUP = [
    *("alpha ", "beta ", "gamma ", "x", ", ", ". ", "? ", "3.14 ", LINE + "\n"),
    *("你好", "世界", "好", "。", "！"),
    *("$", "$$", "$5 apples ", "\\(", "\\)", "\\[", "\\]", "\\begin{a}", "\\end{a}", "\\frac", "`", "```"),
    *('"', "“", "”", "「", "」", "«", "»", "https://x.org/", "<think>", "</think>"),
    *("\n", "\n\n", " ", "\t", "\r\n", "  \n", "\u2028", "\x0c", "\x85"),
]


def test_no_soup_of_the_marks_that_change_a_reading_aborts_what_its_check_passes() -> None:
    """Random texts made of the marks of every class above (spans, quotes, money, URLs, tags, line breaks), each
    fed whole, a character at a time and in random pieces: whatever a watch aborts, the whole text fails too."""
    rng = random.Random(11)
    checks = [{"name": "repetition", "max_ratio": 1.0, "min_line_chars": 20, "max_line_repeats": 1}, "think_format",
              {"name": "long_paragraph", "max_chars": 60}, "code_in_reasoning", "language"]  # fmt: skip
    named = build_checks(checks)
    with Chain(named, workers=0) as chain:
        for case in range(1_500):
            body = "".join(rng.choice(SOUP) for _ in range(rng.randint(3, 30)))
            opened = rng.random() < 0.3
            text = ("" if opened else "<think>\n") + body + "\n</think>\n\nIt means hello world."
            sample = Sample.from_completion(QUOTING, text, opened_by_template=opened, finish_reason="stop")
            whole = {check.name: check.check(sample) for check in named}
            for pieces in chunkings(text, str(case))[:3]:
                failure = first_failure(judge_of(chain, QUOTING, opened=opened), pieces)
                if failure is not None:
                    name, reason, _ = failure
                    assert not whole[name].passed and whole[name].reason == reason, (text, failure)
