"""Deduplication against everything the store has kept, across runs and restarts: an accepted sample whose
completion equals (`duplicate`) or nearly equals (`near_duplicate`) an earlier kept sample is rejected, and
the verdict names the kept one. The earliest kept sample of a cluster survives.

The index lives in the store (`near_dup_signatures`, `near_dup_bands`): a batch looks up only the band keys
it has, in the same transaction that stores it, so the decision and the index never disagree. An audit reads
the store's index and writes nothing; what it keeps stays in memory, so later traces are judged against it too.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from cotfactory.filters.chain import ChainContext, GroupStep
from cotfactory.filters.checks import Sample, Verdict, failed, passed
from cotfactory.filters.near_dup import MinHasher, MinHashParams, NearDupIndex
from cotfactory.storage.ids import xxh3_id
from cotfactory.storage.records import NearDupBandRecord, NearDupSignatureRecord
from cotfactory.storage.store import insert

CHECK_NAME = "dedup"


def params_name(params: MinHashParams) -> str:
    return f"w{params.ngram}-b{params.bands}x{params.rows}-s{params.seed}"


@dataclass
class StoredDedup:
    """Near-duplicate and exact-duplicate verdicts for batches, against the store's index."""

    params: MinHashParams

    def __post_init__(self) -> None:
        self.hasher = MinHasher(self.params)
        self.name = params_name(self.params)
        self._kept_in_memory: list[tuple[str, str, bytes]] = []

    def _stored_candidates(self, con: duckdb.DuckDBPyConnection, keys: np.ndarray) -> list[tuple[str, str, bytes]]:
        """Kept samples sharing a band key with the batch, oldest first: (sample_id, text_hash, signature)."""
        bands = np.tile(np.arange(self.params.bands, dtype=np.int16), len(keys))
        incoming = pa.table({"band": bands, "key": keys.reshape(-1).view(np.int64)})
        con.register("_batch_keys", incoming)
        try:
            rows = con.execute(
                "SELECT s.sample_id, s.text_hash, s.signature FROM near_dup_signatures s "
                "WHERE s.params = ? AND s.sample_id IN (SELECT b.sample_id FROM near_dup_bands b "
                "JOIN _batch_keys k ON b.band = k.band AND b.key = k.key WHERE b.params = ?) "
                "ORDER BY s.added_at, s.sample_id",
                [self.name, self.name],
            ).fetchall()
        finally:
            con.unregister("_batch_keys")
        return [(str(i), str(h), bytes(sig)) for i, h, sig in rows]

    def apply(
        self,
        con: duckdb.DuckDBPyConnection | None,
        ids: Sequence[str],
        texts: Sequence[str],
        *,
        rejudging: bool = False,
        write: bool = True,
    ) -> list[Verdict]:
        """A verdict per text, in order; texts that pass join the index (written through `con`, or kept in memory
        when `write` is off or there is no store).

        A sample is never a duplicate of itself: when `rejudging` (recorded completions judged again), a text
        whose own id is kept is judged against the other kept texts only. Otherwise the text was sampled anew,
        and sampling an already kept completion again is a `duplicate` of it."""
        if not ids:
            return []
        signatures = self.hasher.signatures(texts)
        keys = self.hasher.band_keys(signatures)
        index = NearDupIndex(self.hasher)
        text_hashes: dict[str, str] = {}
        stored_rows = self._stored_candidates(con, keys) if con is not None else []
        for sample_id, text_hash, blob in [*stored_rows, *self._kept_in_memory]:
            signature = np.frombuffer(blob, dtype=np.uint32)
            index.remember(sample_id, signature, self.hasher.band_keys(signature[None, :])[0])
            text_hashes[sample_id] = text_hash
        stored = set(text_hashes)
        hashes = [xxh3_id(text) for text in texts]
        found = index.add_signatures(ids, signatures)
        verdicts, signature_rows, band_rows = [], [], []
        sampled_before: set[str] = set()
        for position, (sample_id, match) in enumerate(zip(ids, found, strict=True)):
            if not rejudging and (sample_id in stored or sample_id in sampled_before):
                verdicts.append(failed("duplicate", 1.0, sample_id))
                continue
            sampled_before.add(sample_id)
            if match is None:
                verdicts.append(passed())
                if sample_id not in stored:
                    text_hashes[sample_id] = hashes[position]
                    signature_rows.append(
                        NearDupSignatureRecord(
                            params=self.name,
                            sample_id=sample_id,
                            text_hash=hashes[position],
                            signature=signatures[position].tobytes(),
                        )
                    )
                    band_rows.extend(
                        NearDupBandRecord(params=self.name, band=band, key=int(key), sample_id=sample_id)
                        for band, key in enumerate(keys[position].view(np.int64))
                    )
                continue
            exact = text_hashes.get(match) == hashes[position]
            similarity = float(np.mean(index.signature(match) == signatures[position]))
            verdicts.append(failed("duplicate" if exact else "near_duplicate", similarity, match))
        if con is not None and write:
            insert(con, signature_rows)
            insert(con, band_rows)
        else:
            self._kept_in_memory.extend((r.sample_id, r.text_hash, r.signature) for r in signature_rows)
        return verdicts


@dataclass
class DedupStep(GroupStep):
    """The chain's last step: the samples every earlier part passed, against the store's index and each other,
    in the group's transaction; the ones that pass join the index."""

    dedup: StoredDedup
    name = CHECK_NAME
    needs_store = True

    def judge(self, samples: Sequence[Sample], passing: Sequence[int], context: ChainContext) -> dict[int, Verdict]:
        ids = [samples[i].sample_id for i in passing]
        texts = [samples[i].trace for i in passing]  # a server's separate reasoning is part of the sample
        verdicts = self.dedup.apply(
            context.connection, ids, texts, rejudging=context.rejudging, write=not context.read_only
        )
        return dict(zip(passing, verdicts, strict=True))
