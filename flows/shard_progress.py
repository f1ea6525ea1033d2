"""Where a sharded run stands, counted over every shard: the merged shards from the run's store, the others from
their own stores as the coordinator looks at them; one `RunProgress`, so the run's progress bar counts all."""

from pathlib import Path

from cotfactory.flows.config import RunConfig
from cotfactory.flows.continuous import RunProgress
from cotfactory.flows.run_state import is_finished, run_progress
from cotfactory.storage.connection import connect
from cotfactory.storage.errors import StoreBusy
from cotfactory.storage.shard_records import ShardCounts, ShardRef, shard_counts

# A look at a shard's store waits at most this long for its writer's commit; a busy store is counted next time.
LOOK_TIMEOUT_S = 0.5


def look(config: RunConfig, path: Path) -> tuple[int, ShardCounts] | None:
    """Prompts finished and the counts of the run in one store, read-only; None while its writer holds it."""
    if not path.is_file():
        return None
    try:
        con = connect(path, read_only=True, lock_timeout=LOOK_TIMEOUT_S)
    except StoreBusy:
        return None
    try:
        run_id = config.run_id()
        finished = sum(is_finished(p, config) for p in run_progress(con, run_id).values())
        return finished, shard_counts(con, run_id)
    finally:
        con.close()


_NOTHING = (0, ShardCounts(0, 0, 0, 0))


def _less(counts: tuple[int, ShardCounts], seeded: tuple[int, ShardCounts]) -> tuple[int, ShardCounts]:
    """What a shard's store holds beyond what it was seeded with."""
    (finished, now), (finished_before, before) = counts, seeded
    return finished - finished_before, ShardCounts(
        now.prompts_sampled - before.prompts_sampled, now.samples - before.samples,
        now.accepted - before.accepted, now.completion_tokens - before.completion_tokens,
    )  # fmt: skip


class ShardedProgress:
    """The last counts seen of each shard, summed into the run's progress."""

    def __init__(self, config: RunConfig, refs: list[ShardRef], prompts_total: int) -> None:
        """Made once the shards' stores are seeded and before they sample: what a store was seeded with is the
        run store's already, and is counted once."""
        self.config = config
        self.refs = {ref.shard: ref for ref in refs}
        self.progress = RunProgress(config.run_id(), prompts_total)
        self.seen: dict[int, tuple[int, ShardCounts]] = {}
        self.base: tuple[int, ShardCounts] | None = None
        self._seeded = {shard: look(config, ref.store) or _NOTHING for shard, ref in self.refs.items()}
        self._reported: dict[int, ShardCounts] = {}

    def merged(self, shard: int) -> None:
        """A shard is merged: its counts are the run store's from now on."""
        self.seen.pop(shard, None)
        self.refs.pop(shard, None)
        self.base = None

    def changed(self) -> dict[int, ShardCounts]:
        """The counts of shards not merged that changed since the last call."""
        changed = {s: counts for s, (_, counts) in self.seen.items() if self._reported.get(s) != counts}
        self._reported.update(changed)
        return changed

    def update(self) -> RunProgress:
        """Look at the run's store and at each shard not merged, and sum what they hold."""
        if self.base is None:
            self.base = look(self.config, self.config.db)
        for shard, ref in self.refs.items():
            if (counts := look(self.config, ref.store)) is not None:
                self.seen[shard] = _less(counts, self._seeded[shard])
        parts = [*([self.base] if self.base is not None else []), *self.seen.values()]
        progress = self.progress
        progress.prompts_finished = sum(finished for finished, _ in parts)
        progress.samples = sum(counts.samples for _, counts in parts)
        progress.accepted = sum(counts.accepted for _, counts in parts)
        progress.completion_tokens = sum(counts.completion_tokens for _, counts in parts)
        return progress
