"""Pydantic rows of the store's indexes: the near-duplicate index (MinHash signatures, LSH band keys) and the
benchmarks registered for decontamination (their word n-grams)."""

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from cotfactory.storage.record_base import Record, utc_now


class NearDupSignatureRecord(Record):
    """A kept sample's MinHash signature (uint32 values as bytes) in the near-duplicate index."""

    table: ClassVar[str] = "near_dup_signatures"

    params: str
    sample_id: str
    text_hash: str
    signature: bytes
    added_at: datetime = Field(default_factory=utc_now)


class NearDupBandRecord(Record):
    """One LSH band key of a kept sample; the first sample with a key keeps it."""

    table: ClassVar[str] = "near_dup_bands"

    params: str
    band: int
    key: int
    sample_id: str


class BenchmarkRecord(Record):
    """A benchmark registered for decontamination."""

    table: ClassVar[str] = "benchmarks"
    json_columns: ClassVar[frozenset[str]] = frozenset({"files"})

    name: str
    ngram: int
    problems: int
    files: list[str] = Field(default_factory=list)
    added_at: datetime = Field(default_factory=utc_now)


class BenchmarkNgramRecord(Record):
    """One word n-gram of a benchmark's problems."""

    table: ClassVar[str] = "benchmark_ngrams"

    benchmark: str
    ngram_hash: int
    ngram: str
