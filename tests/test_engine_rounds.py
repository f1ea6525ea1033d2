"""How the in-process sampler follows a round in vLLM's engine, step by step, against an engine double that
replays scripted steps (the real engine cannot be made to end two samples in one step on purpose): samples that
end in the step in which their prompt reaches its target are kept as they ended; only those still running are
stopped as `target_met`."""

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from cotfactory.samplers.base import Completion, SamplingParams
from cotfactory.samplers.units import Unit, UnitQueue
from cotfactory.samplers.vllm_offline import VllmOfflineConfig, VllmOfflineSampler
from cotfactory.storage import PromptRecord


@dataclass
class _Piece:
    text: str
    finish_reason: str | None = None
    token_ids: list[int] = field(default_factory=lambda: [1])


@dataclass
class _Output:
    request_id: str
    outputs: list[_Piece]
    finished: bool
    prompt_token_ids: list[int] = field(default_factory=lambda: [1, 2, 3])


class _Engine:
    """Steps as scripted: step k yields, for each (sample index, text, finish reason) of `script[k]`, that
    sample's delta (finish reason None: it goes on)."""

    def __init__(self, script: list[list[tuple[int, str, str | None]]]) -> None:
        self.script = script
        self.added: list[str] = []
        self.aborted: list[str] = []
        self.steps = 0

    def add_request(self, request_id: str, prompt: str, params: Any) -> None:
        self.added.append(request_id)

    def abort_request(self, request_ids: list[str]) -> None:
        self.aborted.extend(request_ids)

    def has_unfinished_requests(self) -> bool:
        return self.steps < len(self.script)

    def step(self) -> list[_Output]:
        step, self.steps = self.script[self.steps], self.steps + 1
        return [
            _Output(self.added[index], [_Piece(text, finish)], finish is not None)
            for index, text, finish in step
            if self.added[index] not in self.aborted
        ]


def _sampler(engine: _Engine) -> VllmOfflineSampler:
    sampler = VllmOfflineSampler.__new__(VllmOfflineSampler)  # no engine start: the double stands in for it
    sampler.config = VllmOfflineConfig(model="/tmp/tiny")
    kinds = SimpleNamespace(DELTA="delta", FINAL_ONLY="final")
    params = SimpleNamespace(RequestOutputKind=kinds, RepetitionDetectionParams=dict)
    sampler._vllm = SimpleNamespace(sampling_params=params, SamplingParams=lambda **kw: SimpleNamespace(**kw))
    sampler.llm = SimpleNamespace(llm_engine=engine)
    sampler.tokenizer = SimpleNamespace(apply_chat_template=lambda messages, **options: messages[-1]["content"])
    return sampler


def _round(engine: _Engine, settle: Any) -> list[Completion]:
    prompt = PromptRecord.create("What is 6 times 7?", source="t", reference="42")
    units = UnitQueue()
    units.put(Unit(prompt, 0, SamplingParams(n=3, seed=5), settle=settle))
    got: list[list[Completion]] = []

    def done(unit: Unit[Any], completions: list[Completion]) -> None:
        got.append(completions)
        units.finished()

    _sampler(engine).stream(units, done)
    (completions,) = got
    return completions


def test_a_sample_ending_in_the_step_that_meets_the_target_is_kept_as_it_ended() -> None:
    engine = _Engine([
        [(0, "Six sevens ", None), (1, "Seven sixes ", None), (2, "Let me ", None)],
        [(0, "are 42.", "stop"), (1, "are 42.", "stop"), (2, "think ", None)],
        [(2, "more.", None)],
    ])  # fmt: skip
    judged: list[str] = []

    def settle(completion: Completion) -> bool:
        judged.append(completion.text)
        return True  # the first passing sample meets the target

    completions = _round(engine, settle)
    assert [(c.text, c.finish_reason) for c in completions] == [
        ("Six sevens are 42.", "stop"),
        ("Seven sixes are 42.", "stop"),
        ("Let me ", "aborted:target_met"),
    ]
    assert engine.aborted == [engine.added[2]], "only the sample still running was stopped"


def test_without_the_target_every_sample_runs_to_its_end() -> None:
    engine = _Engine([
        [(0, "Six sevens ", None), (1, "Seven sixes ", None), (2, "Let me ", None)],
        [(0, "are 42.", "stop"), (1, "are 41.", "stop"), (2, "think.", "length")],
    ])  # fmt: skip
    completions = _round(engine, lambda completion: False)
    assert [c.finish_reason for c in completions] == ["stop", "stop", "length"] and engine.aborted == []
