"""`on_target = "abort"`: a prompt that has its target stops its samples still in flight. Each sample is judged
by the run's per-sample checks the moment it ends (in a check process of its own), and once the prompt's
stored accepted samples and its round's passing ones reach `target_accepted`, the sampler stops the rest of the
round; they are stored as `target_met`, which is no rejection. The chain still decides every sample when its
round is stored: a sample the vote or dedup rejects there leaves the prompt short, and its next round samples
again."""

import threading
from collections.abc import Callable

from cotfactory.filters.runner import CheckRunner, build_entries
from cotfactory.flows.commit import sample_of
from cotfactory.flows.config import RunConfig
from cotfactory.samplers.base import ABORTED, Completion
from cotfactory.storage import PromptRecord


class TargetWatch:
    """Counts each prompt round's passing samples as they end, against the prompt's target."""

    def __init__(self, config: RunConfig) -> None:
        self.model, self.target = config.model, config.target_accepted
        checks, _ = build_entries(config.checks)
        self.runner = CheckRunner(checks, workers=1, timeout_s=config.checking.timeout_s)
        self._checking = threading.Lock()  # samplers call from several threads; the pool serves one at a time

    def start(self) -> None:
        self.runner.start()

    def close(self) -> None:
        self.runner.close()

    def for_round(self, prompt: PromptRecord, round: int, accepted: int) -> Callable[[Completion], bool]:
        """The settle callback of one round of `prompt`, which has `accepted` accepted samples stored."""
        passing = [accepted]
        counting = threading.Lock()

        def settle(completion: Completion) -> bool:
            if (completion.finish_reason or "").startswith(ABORTED):
                return False
            with self._checking:
                (verdicts,) = self.runner.verdicts([sample_of(self.model, prompt, round, completion)])
            with counting:
                passing[0] += all(verdict.passed for verdict in verdicts.values())
                return passing[0] >= self.target

        return settle
