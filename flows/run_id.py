"""A run's id: the xxh3 of every setting that can change a completion or a verdict, and of none of those that
only decide where or how fast the run goes."""

import json
from typing import Any

from cotfactory.storage.ids import xxh3_id

# Left out of the run id: where the store, the shards and the servers are, how fast and with how many workers (or
# shards) the run goes, how long it waits, and import options (a run samples the stored selection; a re-import adds
# nothing). Every other setting is part of the id, so a setting added later is part of it unless it is listed here.
_SERVER_SETTINGS = ("base_url", "base_urls", "api_key_env", "max_concurrency", "timeout_s", "max_retries",
                    "backoff_base_s", "backoff_max_s", "endpoint_failures", "endpoint_cooldown_s",
                    "continuous_usage")  # fmt: skip
RUN_ID_EXCLUDED: frozenset[str] = frozenset(
    {
        "db",
        "batch_size",
        "commit_interval_s",
        "sample_retries",
        "checking.workers",
        "checking.timeout_s",
        "cluster.shards",
        "cluster.work_pool",
        "cluster.shard_dir",
        "cluster.heartbeat_s",
        "cluster.zombie_after_s",
        "prompts.files",
        "prompts.problem_field",
        "prompts.answer_field",
        "prompts.language",
        "sampler.tensor_parallel_size",
        "sampler.data_parallel_size",
        "sampler.gpu_memory_utilization",
        "sampler.enforce_eager",
        "sampler.max_line_bytes",
        *(f"sampler.{name}" for name in _SERVER_SETTINGS),
        *(f"checking.judge.sampler.{name}" for name in _SERVER_SETTINGS),
    }
)


def _without(table: dict[str, Any], excluded: frozenset[str], prefix: str = "") -> dict[str, Any]:
    """`table` less the dotted keys in `excluded`, at any depth."""
    kept = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if path in excluded:
            continue
        if isinstance(value, dict):
            inner = _without(value, excluded, f"{path}.")
            if value and not inner:  # a table of settings all left out (`[cluster]`) is as if absent
                continue
            kept[key] = inner
        else:
            kept[key] = value
    return kept


def run_id_of(config_table: dict[str, Any]) -> str:
    """The id of the run a config's JSON table describes."""
    return xxh3_id(json.dumps(_without(config_table, RUN_ID_EXCLUDED), sort_keys=True))
