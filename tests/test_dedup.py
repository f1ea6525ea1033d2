"""Dedup against the store: exact and near duplicates across runs, prompts and restarts."""

from pathlib import Path

from test_near_dup import edit_words, reasoning, swap_paragraphs

from cotfactory.filters.dedup import StoredDedup
from cotfactory.filters.near_dup import MinHashParams
from cotfactory.storage import Store


def dedup_batch(store: Store, ids: list[str], texts: list[str]) -> list[tuple[str | None, str | None]]:
    """(reason, kept sample) per text, deciding and indexing in one transaction as the flow does."""
    with store.transaction() as con:
        verdicts = StoredDedup(MinHashParams()).apply(con, ids, texts)
    return [(v.reason, v.detail) for v in verdicts]


def test_duplicates_across_batches_runs_and_reopens(db: Path) -> None:
    originals = [reasoning(seed) for seed in range(10)]
    assert dedup_batch(Store(db), [f"run1-{i}" for i in range(10)], originals) == [(None, None)] * 10

    # Another run, another process: a fresh Store and a fresh index read what the first one kept.
    later = [originals[3], edit_words(originals[4], 6, 1), swap_paragraphs(originals[5]), reasoning(99)]
    assert dedup_batch(Store(db), ["run2-a", "run2-b", "run2-c", "run2-d"], later) == [
        ("duplicate", "run1-3"),
        ("near_duplicate", "run1-4"),
        ("near_duplicate", "run1-5"),
        (None, None),
    ]
    # The new distinct one joined the index; the rejected ones did not.
    assert dedup_batch(Store(db), ["run3-a", "run3-b"], [edit_words(later[3], 4, 2), later[1]]) == [
        ("near_duplicate", "run2-d"),
        ("near_duplicate", "run1-4"),
    ]


def test_within_one_batch_the_first_survives(db: Path) -> None:
    base = reasoning(5)
    result = dedup_batch(Store(db), ["a", "b", "c"], [base, base, edit_words(base, 3, 0)])
    assert result == [(None, None), ("duplicate", "a"), ("near_duplicate", "a")]


def test_other_settings_keep_their_own_index(db: Path) -> None:
    text = reasoning(1)
    assert dedup_batch(Store(db), ["a"], [text]) == [(None, None)]
    with Store(db).transaction() as con:
        (verdict,) = StoredDedup(MinHashParams(ngram=3)).apply(con, ["b"], [text])
    assert verdict.passed, "an index built with 5-grams does not answer for 3-grams"
