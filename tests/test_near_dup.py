"""Near-duplicate detection: MinHash signatures over word 5-grams and banded LSH."""

import random

import numpy as np
import pytest

from cotfactory.filters.near_dup import MinHasher, MinHashParams, NearDupIndex, similarity

_WORDS = (
    "let the roots satisfy so we compute sum product discriminant check again wait hence value of x y equals "
    "triangle area side angle because therefore first second then modulo remainder prime factor integer"
)
VOCABULARY = _WORDS.split()


def reasoning(seed: int, words: int = 1200) -> str:
    """A distinct pseudo-reasoning of about 8 KB, in paragraphs."""
    rng = random.Random(seed)
    tokens = [rng.choice(VOCABULARY) if rng.random() < 0.8 else str(rng.randint(0, 999)) for _ in range(words)]
    paragraphs = [" ".join(tokens[start : start + 100]) for start in range(0, words, 100)]
    return "\n\n".join(paragraphs)


def edit_words(text: str, count: int, seed: int) -> str:
    rng = random.Random(seed)
    words = text.split(" ")
    for index in rng.sample(range(len(words)), count):
        words[index] = "edited"
    return " ".join(words)


def swap_paragraphs(text: str) -> str:
    paragraphs = text.split("\n\n")
    paragraphs[2], paragraphs[7] = paragraphs[7], paragraphs[2]
    return "\n\n".join(paragraphs)


@pytest.fixture
def index() -> NearDupIndex:
    return NearDupIndex(MinHasher(MinHashParams()))


def test_small_edits_and_reordered_paragraphs_are_near_duplicates(index: NearDupIndex) -> None:
    originals = [reasoning(seed) for seed in range(20)]
    assert index.add([f"o{i}" for i in range(20)], originals) == [None] * 20, "distinct traces are all kept"
    copies = [
        edit_words(originals[0], 5, 1),
        swap_paragraphs(originals[1]),
        edit_words(swap_paragraphs(originals[2]), 3, 2),
    ]
    assert index.add(["c0", "c1", "c2"], copies) == ["o0", "o1", "o2"]
    assert len(index) == 20, "near-duplicates are not kept as cluster members"


def test_distinct_traces_of_one_prompt_are_kept(index: NearDupIndex) -> None:
    """Samples of the same problem share its words but not their reasoning."""
    problem = "Find the sum of the roots of x^2 - 5x + 6 = 0. "
    traces = [problem * 3 + reasoning(100 + i) for i in range(30)]
    assert index.add([f"s{i}" for i in range(30)], traces) == [None] * 30


def test_the_earliest_member_survives_whatever_the_batches(index: NearDupIndex) -> None:
    base = reasoning(7)
    texts = [base, edit_words(base, 4, 1), edit_words(base, 4, 2), edit_words(base, 4, 3)]
    ids = ["first", "second", "third", "fourth"]
    one_batch = index.add(ids, texts)
    split = NearDupIndex(MinHasher(MinHashParams()))
    in_batches = split.add(ids[:1], texts[:1]) + split.add(ids[1:3], texts[1:3]) + split.add(ids[3:], texts[3:])
    assert one_batch == in_batches == [None, "first", "first", "first"]


def test_signatures_are_deterministic_and_estimate_jaccard() -> None:
    hasher = MinHasher(MinHashParams(seed=3))
    text = reasoning(1)
    first, edited, other = MinHasher(MinHashParams(seed=3)).signatures([text, edit_words(text, 10, 0), reasoning(2)])
    assert np.array_equal(first, hasher.signatures([text])[0]), "same params, same signature, in any process"
    assert similarity(first, edited) > 0.8 and similarity(first, other) < 0.2
    assert hasher.signatures([text]).shape == (1, 112)


def test_short_and_empty_texts_have_signatures(index: NearDupIndex) -> None:
    assert index.add(["a", "b", "c"], ["x = 5", "", "x = 5"]) == [None, None, "a"]


def test_a_batch_gives_each_text_the_signature_it_has_alone() -> None:
    """No shingle crosses from one text into the next, whatever the lengths (empty and short texts too)."""
    hasher = MinHasher(MinHashParams())
    texts = [reasoning(1), "", "two words", reasoning(2)[:300], "x", reasoning(3)]
    alone = np.vstack([hasher.signatures([text]) for text in texts])
    assert np.array_equal(hasher.signatures(texts), alone)
    separator_inside = [texts[0], "a \x00cotfactory-text-boundary\x00 b", texts[3]]
    assert np.array_equal(
        hasher.signatures(separator_inside), np.vstack([hasher.signatures([t]) for t in separator_inside])
    )
