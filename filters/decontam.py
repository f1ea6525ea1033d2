"""Decontamination as open-r1 and s1 do it: a prompt that shares a word n-gram (8 by default) with a problem of
a registered benchmark (MATH-500, AIME, GPQA, ...) is contaminated, and so are its samples.

Words are the lowercased `\\w+` runs of the text, so LaTeX markup and punctuation do not hide an overlap.
Benchmarks are stored as sets of n-gram hashes; checking hashes a prompt's n-grams with numpy and looks
them up in the union of the chosen benchmarks' sets.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from cotfactory.filters.chain import ChainContext, GroupStep
from cotfactory.filters.checks import Sample, Verdict, failed, passed
from cotfactory.filters.ngrams import WordHashes, rolled_ngrams
from cotfactory.storage import Store
from cotfactory.storage.errors import CotfactoryError
from cotfactory.storage.input_rows import parse_all_rows
from cotfactory.storage.prompt_fields import PROBLEM_FIELDS, pick_field
from cotfactory.storage.records import BenchmarkNgramRecord, BenchmarkRecord
from cotfactory.storage.store import insert

CHECK_NAME = "decontam"
_WORD = re.compile(r"\w+")


class DecontamError(CotfactoryError, ValueError):
    """A benchmark name that is not registered, or registered with another n-gram size."""


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def ngram_hashes(tokens: Sequence[str], n: int, cache: WordHashes | None = None) -> np.ndarray:
    """Hashes of the word n-grams of `tokens` (int64), rolled over n words, so that a batch hashes each distinct
    word once. Fewer than n words make one n-gram of all of them."""
    cache = WordHashes() if cache is None else cache
    hashes = np.fromiter(map(cache.__getitem__, tokens), dtype=np.uint64, count=len(tokens))
    if not len(hashes):
        return np.empty(0, dtype=np.int64)
    return rolled_ngrams(hashes, min(n, len(hashes))).view(np.int64)


def register_benchmark(
    store: Store, name: str, paths: Sequence[Path], *, field: str | None = None, n: int = 8
) -> BenchmarkRecord:
    """Read the problems of `paths` (JSONL, CSV/TSV, Parquet) and store their n-grams as benchmark `name`.
    Registering a name again replaces it."""
    problems = parse_all_rows(
        paths,
        lambda row: str(pick_field(row.fields or {}, field, PROBLEM_FIELDS, "problem", required=True)),
        what="nothing registered",
    )
    table: dict[int, str] = {}
    cache = WordHashes()
    for problem in problems:
        tokens = words(problem)
        for position, value in enumerate(ngram_hashes(tokens, n, cache).tolist()):
            table.setdefault(value, " ".join(tokens[position : position + n]))
    record = BenchmarkRecord(name=name, ngram=n, problems=len(problems), files=[str(p) for p in paths])
    with store.transaction() as con:
        con.execute("DELETE FROM benchmark_ngrams WHERE benchmark = ?", [name])
        con.execute("DELETE FROM benchmarks WHERE name = ?", [name])
        insert(con, [record])
        insert(con, [BenchmarkNgramRecord(benchmark=name, ngram_hash=h, ngram=g) for h, g in table.items()])
    return record


@dataclass
class Contamination:
    """Which benchmark a text overlaps, and the shared n-gram."""

    benchmark: str
    ngram: str

    def __str__(self) -> str:
        return f"{self.benchmark}: {self.ngram!r}"


class Decontaminator:
    """The n-gram sets of some registered benchmarks, loaded once; `find` checks texts against them."""

    def __init__(self, con: duckdb.DuckDBPyConnection, names: Sequence[str] | None = None) -> None:
        registered = dict(con.execute("SELECT name, ngram FROM benchmarks ORDER BY name").fetchall())
        chosen = list(registered) if names is None else list(names)
        if missing := [name for name in chosen if name not in registered]:
            known = ", ".join(registered) or "none; add one with `cotfactory decontam add`"
            raise DecontamError(f"no benchmark {missing[0]!r} is registered (registered: {known})")
        sizes = {registered[name] for name in chosen}
        if len(sizes) > 1:
            raise DecontamError(f"benchmarks {', '.join(chosen)} use different n-gram sizes {sorted(sizes)}")
        self.n = sizes.pop() if sizes else 8
        self.names = chosen
        rows = con.execute(
            "SELECT ngram_hash, benchmark, ngram FROM benchmark_ngrams WHERE list_contains(?, benchmark) "
            "ORDER BY benchmark, ngram_hash",
            [chosen],
        ).fetchall()
        self._hashes = np.array([row[0] for row in rows], dtype=np.int64)
        order = np.argsort(self._hashes, kind="stable")
        self._hashes = self._hashes[order]
        self._owners = [(rows[i][1], rows[i][2]) for i in order]
        self._cache = WordHashes()

    def find(self, text: str) -> Contamination | None:
        """The first benchmark n-gram `text` contains, or None."""
        return self.find_many([text])[0]

    def find_many(self, texts: Sequence[str]) -> list[Contamination | None]:
        """`find` for a batch: the n-grams of all texts are hashed and looked up together."""
        found: list[Contamination | None] = [None] * len(texts)
        if not len(self._hashes) or not texts:
            return found
        tokens_of = [words(text) for text in texts]
        tokens = [token for text_tokens in tokens_of for token in text_tokens]
        lengths = np.array([len(t) for t in tokens_of], dtype=np.int64)
        # Each text's n-grams, hashed over the concatenation; n-grams across two texts are dropped below.
        hashes = ngram_hashes(tokens, self.n, self._cache) if len(tokens) >= self.n else np.empty(0, np.int64)
        ends = np.cumsum(lengths)
        owner = np.repeat(np.arange(len(texts)), lengths)[: len(hashes)]
        inside = np.arange(len(hashes)) + self.n <= ends[owner]
        positions = np.searchsorted(self._hashes, hashes)
        positions[positions == len(self._hashes)] = 0
        for index in np.flatnonzero(inside & (self._hashes[positions] == hashes)):
            text = int(owner[index])
            if found[text] is None:
                benchmark, gram = self._owners[positions[index]]
                if gram == " ".join(tokens[index : index + self.n]):  # the hash matched; so do the words
                    found[text] = Contamination(benchmark, gram)
        for text in np.flatnonzero((lengths < self.n) & (lengths > 0)):  # shorter than n: one n-gram
            if found[text] is None:
                short = ngram_hashes(tokens_of[text], self.n, self._cache)[0]
                position = int(np.searchsorted(self._hashes, short))
                if position < len(self._hashes) and self._hashes[position] == short:
                    benchmark, gram = self._owners[position]
                    if gram == " ".join(tokens_of[text]):
                        found[text] = Contamination(benchmark, gram)
        return found


@dataclass
class DecontamStep(GroupStep):
    """Every sample of a prompt that overlaps a registered benchmark fails, naming the shared n-gram; judged on
    every sample (it is a fact about the prompt), so a sample an earlier check rejected records it too."""

    decontaminator: Decontaminator
    name = CHECK_NAME
    needs_store = False  # the benchmarks were read when the run started

    def judge(self, samples: Sequence[Sample], passing: Sequence[int], context: ChainContext) -> dict[int, Verdict]:
        problems = list(dict.fromkeys(s.problem for s in samples))
        found = dict(zip(problems, self.decontaminator.find_many(problems), strict=True))
        return {
            i: passed() if found[s.problem] is None else failed("contaminated", None, str(found[s.problem]))
            for i, s in enumerate(samples)
        }
