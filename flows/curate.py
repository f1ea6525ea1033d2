"""Curated SFT sets: accepted samples, filtered and capped, stored as a new version of a named set.

The steps, in order: the SQL predicate; the prompts' pass rate (difficulty, as Light-R1 and LIMO select);
decontamination against registered benchmarks (the run chain's own step); a preference order within each
prompt; near-duplicates dropped in that order (the preferred member of a cluster stays); at most K per prompt.
The same spec on the same store gives the same members: every order is total, and `random:SEED` ranks by a
hash of the seed and the sample id. Completions are read in batches only for near-duplicate removal, so memory
stays small.
"""

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator

from cotfactory.filters.chain import Chain
from cotfactory.filters.checks import Sample
from cotfactory.filters.decontam import Decontaminator, DecontamStep
from cotfactory.filters.near_dup import MinHasher, MinHashParams, NearDupIndex
from cotfactory.filters.parse import trace_of
from cotfactory.storage import Store
from cotfactory.storage.connection import limit_memory
from cotfactory.storage.errors import CotfactoryError
from cotfactory.storage.ids import xxh3_id
from cotfactory.storage.records import SetRecord

TEXT_BATCH = 2_000


class CurateError(CotfactoryError, ValueError):
    """A curate option that cannot work; the message names it."""


class CurateSpec(BaseModel):
    """How a set version is built; stored with it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    where: str | None = Field(None, description="SQL predicate over the `accepted` view's columns")
    per_prompt: int | None = Field(None, ge=1)
    pass_rate: tuple[float, float] | None = None
    prefer: str = "shortest"
    no_near_dups: bool = False
    decontam: list[str] = Field(default_factory=list)

    @field_validator("prefer")
    @classmethod
    def _known_preference(cls, value: str) -> str:
        if value not in ("shortest", "longest") and not re.fullmatch(r"random:\d+", value):
            raise ValueError(f"--prefer {value!r}: use shortest, longest or random:SEED")
        return value

    @field_validator("pass_rate")
    @classmethod
    def _ordered_range(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not 0 <= value[0] <= value[1] <= 1:
            raise ValueError(f"--pass-rate {value[0]}:{value[1]}: want MIN:MAX with 0 <= MIN <= MAX <= 1")
        return value


@dataclass
class CurateReport:
    """What curate built, and how many samples each step excluded."""

    record: SetRecord
    prompts: int
    tokens: int
    considered: int
    excluded: Counter[str] = field(default_factory=Counter)


def _candidates(con: duckdb.DuckDBPyConnection, spec: CurateSpec) -> pl.DataFrame:
    where = f"AND ({spec.where})" if spec.where else ""
    sql = f"""
        SELECT a.sample_id, a.prompt_id, a.problem, length(a.completion) AS chars,
               coalesce(a.completion_tokens, 0) AS tokens, ps.pass_rate
        FROM accepted a JOIN prompt_stats ps USING (run_id, prompt_id)
        WHERE TRUE {where}
        -- a completion accepted by several runs is one candidate (its earliest judgement's pass rate)
        QUALIFY row_number() OVER (PARTITION BY a.sample_id ORDER BY a.judged_at, a.run_id) = 1
    """
    try:
        return con.sql(sql).pl()
    except duckdb.Error as error:
        raise CurateError(f"--where {spec.where!r} does not work as an SQL predicate: {error}") from None


def _rank(frame: pl.DataFrame, prefer: str) -> pl.DataFrame:
    """Rows in prompt order, each prompt's samples in preference order (ties broken by sample id)."""
    if prefer == "shortest":
        key = pl.col("chars")
    elif prefer == "longest":
        key = -pl.col("chars")
    else:
        seed = prefer.split(":", 1)[1]
        key = pl.col("sample_id").map_elements(lambda sample_id: xxh3_id(seed, sample_id), return_dtype=pl.String)
    return frame.with_columns(key.alias("_rank")).sort(["prompt_id", "_rank", "sample_id"])


def _near_duplicates(con: duckdb.DuckDBPyConnection, ordered_ids: list[str]) -> set[str]:
    """Samples that nearly duplicate one earlier in `ordered_ids`. Completions are read once, in storage order
    and in batches (sorting 8 KB texts would need them all in memory); only signatures are kept, then the
    index sees them in preference order."""
    hasher = MinHasher(MinHashParams())
    position = {sample_id: index for index, sample_id in enumerate(ordered_ids)}
    signatures = np.empty((len(ordered_ids), hasher.params.num_perm), dtype=np.uint32)
    con.register("_curate_ids", pa.table({"sample_id": ordered_ids}))
    try:
        reader = con.sql(
            "SELECT sample_id, completion, reasoning FROM completions "
            "WHERE sample_id IN (SELECT sample_id FROM _curate_ids)"
        ).to_arrow_reader(TEXT_BATCH)
        for batch in reader:
            rows = [position[sample_id] for sample_id in batch.column("sample_id").to_pylist()]
            texts = batch.column("completion").to_pylist()
            reasonings = batch.column("reasoning").to_pylist()
            signatures[rows] = hasher.signatures([trace_of(t, r) for t, r in zip(texts, reasonings, strict=True)])
    finally:
        con.unregister("_curate_ids")
    found = NearDupIndex(hasher).add_signatures(ordered_ids, signatures)
    return {sample_id for sample_id, match in zip(ordered_ids, found, strict=True) if match is not None}


def _contaminated_prompts(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, benchmarks: list[str]) -> list[str]:
    """The prompts the run chain's decontamination step rejects, judged once per prompt."""
    problems = frame.select("prompt_id", "problem").unique("prompt_id", maintain_order=True)
    prompt_ids = problems.get_column("prompt_id").to_list()
    samples = [Sample.from_completion(problem, "", prompt_id=prompt_id) for prompt_id, problem in problems.iter_rows()]
    with Chain([], [DecontamStep(Decontaminator(con, benchmarks))], workers=0) as chain:
        decisions = chain.run(samples)
    return [prompt_id for prompt_id, decision in zip(prompt_ids, decisions, strict=True) if not decision.accepted]


def curate(store: Store, name: str, spec: CurateSpec) -> CurateReport:
    """Build and store the next version of set `name` from the store's accepted samples."""
    with store.transaction() as con:
        limit_memory(con)
        frame = _candidates(con, spec)
        considered = frame.height
        excluded: Counter[str] = Counter()
        if spec.pass_rate is not None:
            low, high = spec.pass_rate
            kept = frame.filter(pl.col("pass_rate").is_between(low, high))
            excluded["pass_rate"] = frame.height - kept.height
            frame = kept
        if spec.decontam:
            dirty = _contaminated_prompts(con, frame, spec.decontam)
            kept = frame.filter(~pl.col("prompt_id").is_in(dirty))
            excluded["contaminated"] = frame.height - kept.height
            frame = kept
        frame = _rank(frame, spec.prefer)
        if spec.no_near_dups:
            dropped = _near_duplicates(con, frame.get_column("sample_id").to_list())
            excluded["near_duplicate"] = len(dropped)
            frame = frame.filter(~pl.col("sample_id").is_in(list(dropped)))
        if spec.per_prompt is not None:
            kept = frame.filter(pl.int_range(pl.len()).over("prompt_id") < spec.per_prompt)
            excluded["per_prompt"] = frame.height - kept.height
            frame = kept
    record = store.add_set(name, spec.model_dump(mode="json"), frame.get_column("sample_id").to_list())
    return CurateReport(
        record=record,
        prompts=frame.get_column("prompt_id").n_unique(),
        tokens=int(frame.get_column("tokens").sum()),
        considered=considered,
        excluded=excluded,
    )


def parse_pass_rate(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        low, high = (float(part) for part in text.split(":"))
    except ValueError:
        raise CurateError(f"--pass-rate {text!r}: want MIN:MAX, e.g. 0.1:0.9") from None
    return low, high


def spec_from_options(**options: Any) -> CurateSpec:
    from pydantic import ValidationError

    try:
        return CurateSpec(**options)
    except ValidationError as error:
        raise CurateError("; ".join(e["msg"].removeprefix("Value error, ") for e in error.errors())) from None
