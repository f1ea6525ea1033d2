"""A merging process for the crash test: merges shard 0 of a run's two, then writes shard 1 and stops before its
commit, announcing each step, until it is killed."""

import sys

from cotfactory.flows.config import load_config
from cotfactory.flows.shards import merge_shards, shard_ref


def hold() -> None:
    print("holding 1", flush=True)
    sys.stdin.readline()  # the test kills the process here, inside shard 1's transaction
    raise SystemExit("not killed")


def main() -> None:
    config = load_config(sys.argv[1])
    merge_shards(config, [shard_ref(config, 0, 2)])
    print("merged 0", flush=True)
    merge_shards(config, [shard_ref(config, 1, 2)], before_commit=hold)


if __name__ == "__main__":
    main()
