"""A run's cost: the `run_cost` view and the funnel's tokens on a store written as a run commits (accepted, wrong,
cut at max_tokens, stopped as a loop, aborted by a check, aborted at the target, a collapsed duplicate, a round
without a token count), the same figures in `status` and the report, and a store of the previous schema."""

import json
import re
from pathlib import Path

import duckdb
import pytest
from helpers import prompt, rows, run_cli, store_batch

from cotfactory.storage import JudgedSample, RoundRecord, RunRecord, Store, VerdictRecord, open_read_only
from cotfactory.storage.funnel import run_funnel
from cotfactory.storage.migrations import migrate
from cotfactory.storage.run_cost import RunCost, run_cost
from cotfactory.storage.store import write_batch

RUN = "run-cost"
# (prompt, round, name, finish_reason, completion_tokens, reject_check, reject_reason); None: accepted
SAMPLES = [
    (0, 0, "right", "stop", 100, None, None),
    (0, 0, "wrong", "stop", 300, "math_verify", "wrong_answer"),
    (0, 0, "wrong", "stop", 300, "math_verify", "wrong_answer"),  # sampled twice: one outcome, both in the round
    (0, 0, "cut", "length", 500, "truncated", "truncated"),
    (1, 0, "loop", "repetition", 400, "repetition", "repetition"),
    (1, 0, "foreign", "aborted:language", 50, "language", "language_mixed"),
    (1, 0, "also right", "stop", 200, None, None),
    (1, 0, "sibling", "aborted:target_met", 150, "target_met", "target_met"),
    (2, 0, "wrong again", "stop", 250, "math_verify", "wrong_answer"),
]
NO_ROUND_COUNT = {(2, 0)}  # a round stored without its token count: its samples' counts stand in
# Finished samples 100, 300, 500, 400, 200, 250. Aborted at 50: all six got further, mean 1750 / 6, less 50;
# aborted at 150: 300, 500, 400, 200 and 250 did, mean 330, less 150.
SAVED = round(1750 / 6 - 50 + 330 - 150)
EXPECTED = RunCost(
    run_id=RUN,
    samples=8,
    accepted=2,
    target_met=1,
    pass_rate=2 / 7,
    generated_tokens=1200 + 800 + 250,
    prompt_tokens=80,
    tokens_per_accepted=2250 / 2,
    rejected_tokens=300 + 500 + 400 + 50 + 250,
    aborted_samples=2,
    aborted_tokens=200,
    saved_tokens=SAVED,
)


def run_records() -> tuple[list[JudgedSample], list[VerdictRecord], list[RoundRecord]]:
    """The samples, verdicts and round records of the run, built as the commit step builds them."""
    samples, verdicts, tokens = [], [], {}
    for index, (number, round_, text, finish, count, check, reason) in enumerate(SAMPLES):
        sample = JudgedSample.create(
            prompt_id=prompt(number).prompt_id, model="tiny", completion=f"<think>{text}</think>", run_id=RUN,
            round=round_, sample_index=index, finish_reason=finish, prompt_tokens=10, completion_tokens=count,
            accepted=check is None, reject_check=check, reject_reason=reason,
        )  # fmt: skip
        samples.append(sample)
        passed = check is None
        verdicts.append(
            VerdictRecord(run_id=RUN, sample_id=sample.sample_id, check_name=check or "math_verify",
                          passed=passed, score=1.0 if passed else 0.0, reason=reason)
        )  # fmt: skip
        tokens[(number, round_)] = tokens.get((number, round_), 0) + count
    rounds = [
        RoundRecord(run_id=RUN, prompt_id=prompt(number).prompt_id, round=round_, samples=0, accepted=0,
                    completion_tokens=None if (number, round_) in NO_ROUND_COUNT else total)
        for (number, round_), total in tokens.items()
    ]  # fmt: skip
    return samples, verdicts, rounds


@pytest.fixture
def cost_store(store: Store, db: Path) -> Path:
    store.add_prompts([prompt(i) for i in range(3)])
    store.start_run(RunRecord(run_id=RUN, model="tiny"))
    store.start_run(RunRecord(run_id="run-idle", model="tiny"))  # started, nothing stored yet
    samples, verdicts, rounds = run_records()
    assert store_batch(store, samples[:4], verdicts[:4], rounds[:1]) == 3  # the duplicate collapses
    assert store_batch(store, samples[4:], verdicts[4:], rounds[1:]) == 5
    return db


def test_each_column_of_run_cost(cost_store: Path) -> None:
    with open_read_only(cost_store) as con:
        assert run_cost(con, RUN) == EXPECTED
        assert run_cost(con, "run-idle") == RunCost.empty("run-idle")
        assert run_cost(con, "no-such-run") == RunCost.empty("no-such-run")
    # the generated tokens are every token of the run's rounds, the collapsed duplicate's too
    assert rows(cost_store, "SELECT sum(completion_tokens) FROM run_rounds") == [(1200 + 800,)]
    assert rows(cost_store, "SELECT count(*) FROM run_cost") == [(2,)]


def test_the_funnel_counts_tokens_by_outcome(cost_store: Path) -> None:
    with open_read_only(cost_store) as con:
        funnel = {(r.check_name, r.reason): (r.samples, r.generated_tokens) for r in run_funnel(con, RUN)}
    assert funnel == {
        ("accepted", "accepted"): (2, 300),
        ("math_verify", "wrong_answer"): (2, 550),
        ("truncated", "truncated"): (1, 500),
        ("repetition", "repetition"): (1, 400),
        ("language", "language_mixed"): (1, 50),
        ("target_met", "target_met"): (1, 150),
    }
    shares = rows(cost_store, "SELECT sum(share), sum(samples) FROM funnel WHERE run_id = ?", [RUN])
    assert shares == [(pytest.approx(1.0), 8)]


def test_prompt_pass_rates_leave_target_met_out(cost_store: Path) -> None:
    stats = rows(cost_store, "SELECT prompt_id, sampled, accepted, pass_rate, target_met FROM prompt_stats")
    assert sorted(stats) == sorted(
        [
            (prompt(0).prompt_id, 3, 1, 1 / 3, 0),
            (prompt(1).prompt_id, 4, 1, 1 / 3, 1),
            (prompt(2).prompt_id, 1, 0, 0.0, 0),
        ]
    )


def test_token_sums_are_unknown_without_counts_and_zero_without_samples(store: Store, db: Path) -> None:
    """A server that reports usage per request gives no sample its own count: the round's total still counts."""
    store.add_prompts([prompt(0)])
    sample = JudgedSample.create(prompt_id=prompt(0).prompt_id, model="m", completion="x", run_id="r",
                                 finish_reason="stop", accepted=True)  # fmt: skip
    unit = RoundRecord(run_id="r", prompt_id=prompt(0).prompt_id, round=0, samples=0, accepted=0, completion_tokens=42)
    store_batch(store, [sample], [], [unit])
    with open_read_only(db) as con:
        cost = run_cost(con, "r")
        (row,) = run_funnel(con, "r")
    assert (cost.generated_tokens, cost.tokens_per_accepted, cost.prompt_tokens) == (42, 42.0, None)
    assert (cost.rejected_tokens, cost.aborted_tokens, cost.saved_tokens, cost.pass_rate) == (0, 0, 0, 1.0)
    assert row.generated_tokens is None


def test_status_shows_the_cost_and_the_tokens_by_outcome(cost_store: Path) -> None:
    shown = run_cli("status", RUN, "--db", str(cost_store), env={"COLUMNS": "160"})
    assert shown.returncode == 0, shown.stderr
    overview, funnel, cost = (_table(shown.stdout, header) for header in ("run_id", "check_name", "figure"))
    assert overview[1][overview[0].index("pass_rate")] == "0.2857", "target_met left out of the pass rate"
    assert overview[1][overview[0].index("tokens_per_accepted")] == "1,125"
    assert funnel[0] == ["check_name", "reason", "samples", "share", "generated_tokens"]
    assert ["target_met", "target_met", "1", "0.125", "150"] in funnel
    assert ["math_verify", "wrong_answer", "2", "0.25", "550"] in funnel
    figures = dict(cost[1:])
    assert figures["GPU tokens per accepted trace"] == "1,125.0"
    assert figures["generated tokens"] == "2,250"
    assert figures["pass rate"] == "28.6% (2 accepted of 7); 1 stopped at their prompt's target, left out"
    assert figures["tokens of rejected samples"] == "1,500"
    assert figures["aborted samples"] == "2 (200 tokens)"
    assert figures["tokens saved by aborts (estimate)"] == f"{SAVED:,}"


def _table(output: str, header: str) -> list[list[str]]:
    """The header and rows of the table printed with `header` as its first column."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"┃ {header} "))
    table = []
    for line in lines[start:]:
        if not line.startswith(("┃", "│", "┡")):
            break
        if not line.startswith("┡"):
            table.append([cell.strip() for cell in re.split("[┃│]", line)[1:-1]])
    return table


def test_the_report_shows_the_cost(cost_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "cost.html"
    done = run_cli("report", RUN, "--db", str(cost_store), "--out", str(out))
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    assert "<td>GPU tokens per accepted trace</td><td>1,125.0</td>" in page
    found = re.search(r'<script type="application/json" id="data-cost">(.*?)</script>', page, re.DOTALL)
    assert found and json.loads(found.group(1))["saved_tokens"] == SAVED
    funnel = re.search(r'<script type="application/json" id="data-funnel">(.*?)</script>', page, re.DOTALL)
    assert funnel and {r["reason"]: r["generated_tokens"] for r in json.loads(funnel.group(1))}["truncated"] == 500


def test_a_store_of_the_previous_schema_migrates_and_shows_its_cost(db: Path) -> None:
    con = duckdb.connect(str(db))
    assert migrate(con, str(db), upto=10) == 10
    con.execute("BEGIN TRANSACTION")
    from cotfactory.storage.store import insert

    insert(con, [prompt(i) for i in range(3)])
    write_batch(con, *run_records())
    con.execute("COMMIT")
    assert "generated_tokens" not in [c[0] for c in con.execute("SELECT * FROM funnel LIMIT 0").description]
    con.close()

    Store(db).migrate()
    with open_read_only(db) as con:
        assert run_cost(con, RUN) == EXPECTED
        assert sum(row.generated_tokens or 0 for row in run_funnel(con, RUN)) == 300 + 550 + 500 + 400 + 50 + 150


def test_the_end_of_run_tables_show_the_tokens_and_the_cost(cost_store: Path) -> None:
    from rich.console import Console

    from cotfactory.flows.progress import cost_table, funnel_table
    from cotfactory.flows.run_artifacts import cost_markdown

    with open_read_only(cost_store) as con:
        funnel, cost = run_funnel(con, RUN), run_cost(con, RUN)
    console = Console(width=160, record=True, color_system=None)
    console.print(funnel_table(RUN, funnel))
    console.print(cost_table(cost))
    lines = [[cell.strip() for cell in re.split("[┃│]", line)[1:-1]] for line in console.export_text().splitlines()]
    assert ["target_met", "target_met", "1", "12.5%", "150"] in lines
    assert ["total", "", "8", "100.0%", f"{300 + 550 + 500 + 400 + 50 + 150:,}"] in lines
    assert ["GPU tokens per accepted trace", "1,125.0"] in lines
    assert ["tokens saved by aborts (estimate)", f"{SAVED:,}"] in lines
    assert "| GPU tokens per accepted trace | 1,125.0 |" in cost_markdown(cost)


def test_saved_tokens_are_the_mean_remaining_length_of_finished_samples_that_got_further(
    store: Store, db: Path
) -> None:
    """Ties, an abort at exactly a finished length (only longer ones count), one past every finished sample (0)."""
    import random

    rng = random.Random(7)
    finished = [rng.choice([10, 20, 20, 35, 80, 200]) + rng.randrange(3) for _ in range(40)]
    aborted = [0, 10, 20, 22, 80, max(finished), max(finished) + 5, *(rng.randrange(250) for _ in range(20))]
    store.add_prompts([prompt(0)])
    outcome = {"run_id": "r", "accepted": False, "reject_check": "x", "reject_reason": "x"}
    kinds = [("stop", t) for t in finished] + [("length", 300)] + [("aborted:language", g) for g in aborted]
    samples = [
        JudgedSample.create(prompt_id=prompt(0).prompt_id, model="m", completion=f"{kind} {index}",
                            sample_index=index, finish_reason=kind, completion_tokens=tokens, **outcome)
        for index, (kind, tokens) in enumerate(kinds)
    ]  # fmt: skip
    store_batch(store, samples)
    ran = [*finished, 300]
    expected = sum(sum(longer) / len(longer) - g for g in aborted if (longer := [t for t in ran if t > g]))
    with open_read_only(db) as con:
        cost = run_cost(con, "r")
    assert cost.saved_tokens == round(expected)
    assert (cost.aborted_samples, cost.aborted_tokens) == (len(aborted), sum(aborted))
