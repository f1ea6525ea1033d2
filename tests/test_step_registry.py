"""A check that looks across samples is one module and one registry entry: a run config names it in `checks`,
its verdicts are stored under its name, and the chain decides with it like with any other part."""

from pathlib import Path

from helpers import run_script_with
from openai_server import OpenAIServer
from run_configs import http_run_config, write_config

from cotfactory.storage import query

ONE_PER_ANSWER = '''
from dataclasses import dataclass

from cotfactory.filters.chain import GroupStep
from cotfactory.filters.checks import failed, passed, register


@register("one_per_answer", reasons=("repeated_answer",), cost="group")
@dataclass
class OnePerAnswer(GroupStep):
    """Of the passing samples of a prompt with the same answer, only the first passes."""

    keep: int = 1

    def judge(self, samples, passing, context):
        seen = {}
        verdicts = {}
        for position in passing:
            key = (samples[position].prompt_id, samples[position].answer)
            seen[key] = seen.get(key, 0) + 1
            verdicts[position] = passed() if seen[key] <= self.keep else failed("repeated_answer")
        return verdicts
'''

RUN_WITH_STEP = """
import sys
import one_per_answer  # the one entry: importing the module registers it

from cotfactory.flows.config import ConfigError, load_config
from cotfactory.flows.generate import generate
try:
    load_config(sys.argv[2])
except ConfigError as error:
    print("bad config:", error)
summary = generate(load_config(sys.argv[1]))
print(summary.status, summary.run_id)
"""


def same_answer(body: dict, index: int) -> dict:
    # one request per sample: its seed tells the samples of a round apart
    return {"role": "assistant", "content": f"<think>\nworking, try {body['seed']}\n</think>\n\n\\boxed{{4}}"}


def test_a_group_step_added_by_one_registry_entry_runs_in_a_flow(prefect_api: str, tmp_path: Path) -> None:
    module = tmp_path / "one_per_answer.py"
    module.write_text(ONE_PER_ANSWER)
    with OpenAIServer(answer=same_answer) as server:
        raw = http_run_config(tmp_path, server.url, samples_per_round=3, max_rounds=1, dedup={"enabled": False})
        checks = ["think_format", "non_empty", "one_per_answer"]
        good = write_config(tmp_path, {**raw, "checks": checks}, "good.toml")
        bad = write_config(tmp_path, {**raw, "checks": [*checks[:2], {"name": "one_per_answer", "kep": 2}]}, "b.toml")
        lines = run_script_with(module, RUN_WITH_STEP, str(good), str(bad), prefect_api=prefect_api)
    assert lines[0].startswith("bad config:") and "'one_per_answer' has no setting 'kep'" in lines[0]
    status, run_id = lines[-1].split()
    assert status == "completed"
    outcomes = query(
        "SELECT prompt_id, sample_index, accepted, reject_check, reject_reason FROM outcomes WHERE run_id = ? "
        "ORDER BY prompt_id, sample_index", tmp_path / "store.duckdb", params=[run_id],
    ).rows()  # fmt: skip
    assert len(outcomes) == 15
    # the first sample of each prompt passes; its two siblings with the same answer are rejected by the step
    assert [(index, accepted, check, reason) for _, index, accepted, check, reason in outcomes] == 5 * [
        (0, True, None, None),
        (1, False, "one_per_answer", "repeated_answer"),
        (2, False, "one_per_answer", "repeated_answer"),
    ]
