"""The HTML report: a replayed run with one sample of each kind of failure, its numbers against SQL over the
same store, the failing parts marked, and the file opened from disk by headless Chromium with networking off."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import rows, run_cli
from run_configs import write_config

from cotfactory.flows.config import load_config
from cotfactory.flows.generate import generate

LOOP = "Let me add the numbers again.\n" * 40


def traces() -> list[dict]:
    """Replayed samples of 6 problems: right, wrong, unclosed, looping, slipping into Chinese, cut short."""
    right = "<think>\nSeven and five make {s}.\n</think>\n\nThe answer is \\boxed{{{s}}}."
    lines = []
    for index in range(6):
        total = 7 + 5 + index
        problem = f"What is 7 + 5 + {index}?"
        kinds = [
            right.format(s=total),
            right.format(s=total + 1),  # wrong answer
            "<think>\nSeven and five make twelve and then",  # never closed
            f"<think>\n{LOOP}</think>\n\nThe answer is \\boxed{{{total}}}.",  # a loop
            f"<think>\nSeven and five make twelve, 然后我们再加上 {index}.\n</think>\n\n\\boxed{{{total}}}",
        ]
        for completion in kinds:
            lines.append({"problem": problem, "completion": completion, "finish_reason": "stop"})
        lines.append({"problem": problem, "completion": right.format(s=total)[:40], "finish_reason": "length"})
    for number, line in enumerate(lines):  # the token counts a server reported, as a dump keeps them
        line |= {"prompt_tokens": 20, "completion_tokens": len(line["completion"]) // 3 + number}
    return lines


@pytest.fixture(scope="module")
def reported_run(tmp_path_factory: pytest.TempPathFactory, prefect_api: str) -> tuple[Path, str, Path]:
    """(store, run id, the report the run wrote beside the store)."""
    folder = tmp_path_factory.mktemp("report")
    problems = [{"problem": f"What is 7 + 5 + {i}?", "answer": str(12 + i)} for i in range(6)]
    (folder / "problems.jsonl").write_text("".join(json.dumps(p) + "\n" for p in problems))
    (folder / "traces.jsonl").write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in traces()))
    config = {
        "name": "report",
        "db": "store.duckdb",
        "samples_per_round": 6,
        "target_accepted": 1,
        "max_rounds": 1,
        "prompts": {"files": ["problems.jsonl"], "language": "en"},
        "sampler": {"kind": "replay", "paths": ["traces.jsonl"]},
        "checking": {"workers": 1},
    }
    summary = generate(load_config(write_config(folder, config)))
    db = folder / "store.duckdb"
    return db, summary.run_id, folder / "reports" / f"{summary.run_id}.html"


def chart_data(page: str, name: str) -> object:
    found = re.search(rf'<script type="application/json" id="data-{name}">(.*?)</script>', page, re.DOTALL)
    assert found, name
    return json.loads(found.group(1).replace("<\\/", "</"))


def test_the_numbers_behind_each_chart_equal_sql_over_the_same_run(reported_run: tuple[Path, str, Path]) -> None:
    db, run_id, report = reported_run
    page = report.read_text()
    funnel = {(row["check_name"], row["reason"]): row["samples"] for row in chart_data(page, "funnel")}
    assert funnel == {(c, r): n for c, r, n in rows(db, "SELECT check_name, reason, samples FROM funnel")}
    assert {"accepted", "wrong_answer", "unclosed_think", "repetition", "language_mixed", "truncated"} <= {
        reason for _, reason in funnel
    }
    difficulty = {row["bin"]: row["prompts"] for row in chart_data(page, "difficulty")}
    rates = [rate for (rate,) in rows(db, "SELECT pass_rate FROM prompt_stats WHERE run_id = ?", [run_id])]
    assert sum(difficulty.values()) == len(rates) == 6
    assert difficulty == {min(int(rate * 10), 9): rates.count(rate) for rate in rates}
    by_outcome = {row["outcome"]: row["samples"] for row in chart_data(page, "length")}
    assert by_outcome == dict(
        rows(db, "SELECT CASE WHEN accepted THEN 'accepted' ELSE reject_check END, count(*) FROM outcomes GROUP BY 1")
    )
    assert sum(row["samples"] for row in chart_data(page, "throughput")) == 36
    ((judged,),) = rows(db, "SELECT count(*) FROM verdicts WHERE check_name = 'language' AND score IS NOT NULL")
    assert sum(row["samples"] for row in chart_data(page, "language")) == judged > 0
    assert chart_data(page, "summary")["accepted"] == rows(db, "SELECT count(*) FROM accepted")[0][0]


def test_the_runs_cost_is_the_tokens_its_sampler_reported(reported_run: tuple[Path, str, Path]) -> None:
    from prefect.client.orchestration import get_client

    from cotfactory.storage import open_read_only
    from cotfactory.storage.run_cost import run_cost

    db, run_id, report = reported_run
    reported = sum(line["completion_tokens"] for line in traces())
    with open_read_only(db) as con:
        cost = run_cost(con, run_id)
    assert (cost.generated_tokens, cost.prompt_tokens, cost.accepted) == (reported, 20 * 36, 6)
    assert cost.tokens_per_accepted == reported / 6
    assert sum(row["generated_tokens"] for row in chart_data(report.read_text(), "funnel")) == reported
    figure = f"<td>GPU tokens per accepted trace</td><td>{reported / 6:,.1f}</td>"
    assert figure in report.read_text()
    with get_client(sync_client=True) as client:
        artifacts = {a.key: a for a in client.read_latest_artifacts()}
    assert f"| GPU tokens per accepted trace | {reported / 6:,.1f} |" in str(artifacts[f"cost-{run_id}"].data)
    table = artifacts[f"funnel-{run_id}"].data
    table = json.loads(table) if isinstance(table, str) else table
    assert sum(row["generated_tokens"] for row in table) == reported


def test_rejected_samples_show_the_part_that_failed(reported_run: tuple[Path, str, Path]) -> None:
    page = reported_run[2].read_text()
    # the wrong boxed answer, marked, beside the reference (one more than it)
    wrong = re.findall(r"<b>Answer:</b> <mark>(\d+)</mark> &nbsp; <b>Reference:</b> (\d+)", page)
    assert wrong and all(int(answer) == int(reference) + 1 for answer, reference in wrong)
    assert re.search(r"<mark>\\boxed\{\d+\}</mark>", page)
    assert "<mark>Let me add the numbers again.</mark>" in page  # the repeated line
    assert re.search(r"<mark>[^<]*然后我们再加上[^<]*</mark>", page)  # the foreign fragment
    assert "⟂ the completion ends here" in page  # where an unclosed or cut completion stops


def test_report_command_for_a_run_and_a_set(reported_run: tuple[Path, str, Path], tmp_path: Path) -> None:
    db, run_id, _ = reported_run
    out = tmp_path / "run.html"
    done = run_cli("report", run_id, "--db", str(db), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert chart_data(out.read_text(), "summary")["samples"] == 36
    # (the predicate README gives for leaving decimal approximations out of a set)
    exact_only = "sample_id NOT IN (SELECT sample_id FROM verdicts WHERE detail LIKE 'approximation of%')"
    curated = run_cli("curate", "kept", "--where", f"run_id = '{run_id}' AND {exact_only}", "--db", str(db))
    assert curated.returncode == 0, curated.stderr
    set_report = run_cli("report", "--set", "kept", "--db", str(db), "--out", str(tmp_path / "set.html"))
    assert set_report.returncode == 0, set_report.stderr
    summary = chart_data((tmp_path / "set.html").read_text(), "summary")
    assert summary["samples"] == summary["accepted"] == rows(db, "SELECT row_count FROM sets")[0][0]
    missing = run_cli("report", "nope", "--db", str(db), "--out", str(tmp_path / "x.html"))
    assert missing.returncode == 1 and "no run with id 'nope'" in missing.stderr


def test_the_report_opens_offline_in_chromium_without_errors(
    reported_run: tuple[Path, str, Path], tmp_path: Path
) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "chromium is installed by `make system-deps`"
    report, shot = reported_run[2], tmp_path / "report.png"
    command = [
        browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>", "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0", "--window-size=1200,2000",
    ]  # fmt: skip
    dumped = subprocess.run([*command, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120)
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    assert "cotfactory report" in dumped.stdout and dumped.stdout.count("<svg") == 5
    console_errors = [line for line in dumped.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console_errors == []
    failed_loads = [line for line in dumped.stderr.splitlines() if "net::ERR" in line]
    assert failed_loads == []  # nothing to fetch: no script, font or stylesheet from anywhere
    done = subprocess.run([*command, f"--screenshot={shot}", report.as_uri()], capture_output=True, timeout=120)
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as image:
        colors = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colors is not None and len(colors) > 50  # charts and text, not a blank page
