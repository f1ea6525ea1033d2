"""Curated sets and decontamination: reproducible members, pass-rate selection, per-prompt caps, preferences,
near-duplicates, benchmark overlap."""

import json
from pathlib import Path

import pytest
from helpers import run_cli, store_batch
from test_near_dup import edit_words, reasoning

from cotfactory.filters.decontam import DecontamError, Decontaminator, register_benchmark, words
from cotfactory.flows.curate import CurateError, CurateSpec, curate, spec_from_options
from cotfactory.storage import JudgedSample, PromptRecord, RunRecord, Store, query

BENCHMARK_PROBLEMS = [
    "Let $f(x) = 3x^2 - 5$. What is the value of $f(f(1))$ when the function is applied twice?",
    "How many vertical asymptotes does the graph of $y=\\frac{2}{x^2+x-6}$ have in the real plane?",
]


def add_samples(store: Store, problem: str, lengths: list[int], accepted: list[bool], seed: int) -> PromptRecord:
    prompt = PromptRecord.create(problem, source="test", reference="1")
    store.add_prompts([prompt])
    samples = []
    for index, (size, ok) in enumerate(zip(lengths, accepted, strict=True)):
        text = reasoning(seed * 100 + index, words=size)
        samples.append(
            JudgedSample.create(
                prompt_id=prompt.prompt_id,
                model="m",
                completion=text,
                run_id="run",
                sample_index=index,
                completion_tokens=size,
                accepted=ok,
                reject_reason=None if ok else "wrong_answer",
            )
        )
    store_batch(store, samples)
    return prompt


@pytest.fixture
def filled(store: Store) -> Store:
    store.start_run(RunRecord(run_id="run", model="m"))
    # pass rates: 1/4, 2/4, 4/4
    add_samples(store, "Problem A: a hard one.", [300, 200, 100, 400], [True, False, False, False], 1)
    add_samples(store, "Problem B: a medium one.", [300, 200, 100, 400], [True, True, False, False], 2)
    add_samples(store, "Problem C: an easy one.", [300, 200, 100, 400], [True, True, True, True], 3)
    return store


def members(store: Store, name: str, version: int) -> list[tuple[str, int]]:
    frame = query(
        "SELECT p.problem, s.completion_tokens FROM set_members m JOIN samples s USING (sample_id) "
        "JOIN prompts p USING (prompt_id) WHERE m.name = ? AND m.version = ? ORDER BY 1, 2",
        store.path,
        params=[name, version],
    )
    return [(problem[:9], tokens) for problem, tokens in frame.rows()]


def test_same_spec_same_members_in_a_new_version(filled: Store) -> None:
    spec = CurateSpec(per_prompt=1, prefer="random:7")
    first, second = curate(filled, "sft", spec), curate(filled, "sft", spec)
    assert (first.record.version, second.record.version) == (1, 2)
    assert members(filled, "sft", 1) == members(filled, "sft", 2)
    assert len(members(filled, "sft", 1)) == 3


def test_pass_rate_per_prompt_and_preference(filled: Store) -> None:
    report = curate(filled, "medium", CurateSpec(pass_rate=(0.2, 0.6), per_prompt=1, prefer="shortest"))
    assert members(filled, "medium", 1) == [("Problem A", 300), ("Problem B", 200)]
    assert report.excluded == {"pass_rate": 4, "per_prompt": 1}
    assert (report.prompts, report.tokens, report.considered) == (2, 500, 7)
    curate(filled, "long", CurateSpec(per_prompt=2, prefer="longest", where="problem LIKE '%easy%'"))
    assert members(filled, "long", 1) == [("Problem C", 300), ("Problem C", 400)]
    random_7 = curate(filled, "r", CurateSpec(per_prompt=2, prefer="random:7"))
    random_8 = curate(filled, "r", CurateSpec(per_prompt=2, prefer="random:8"))
    assert random_7.record.row_count == random_8.record.row_count == 5
    curate(filled, "r", CurateSpec(per_prompt=2, prefer="random:7"))
    assert members(filled, "r", 3) == members(filled, "r", 1), "a seed picks the same samples every time"


def test_near_duplicates_leave_the_preferred_one(store: Store) -> None:
    store.start_run(RunRecord(run_id="run", model="m"))
    prompt = PromptRecord.create("Problem D", source="test", reference="1")
    store.add_prompts([prompt])
    base = reasoning(42)
    texts = [base, edit_words(base, 4, 1) + " extra words at the end", reasoning(43)]
    store_batch(
        store,
        [
            JudgedSample.create(
                prompt_id=prompt.prompt_id, model="m", completion=t, run_id="run", sample_index=i, accepted=True
            )
            for i, t in enumerate(texts)
        ],
    )
    report = curate(store, "distinct", CurateSpec(no_near_dups=True, prefer="longest"))
    assert report.record.row_count == 2 and report.excluded["near_duplicate"] == 1
    kept = query("SELECT s.completion FROM set_members JOIN samples s USING (sample_id)", store.path)
    assert texts[1] in kept.get_column("completion").to_list(), "the longer of the pair is preferred and kept"


def test_decontamination_catches_an_embedded_benchmark_problem(tmp_path: Path, store: Store) -> None:
    benchmark = tmp_path / "bench.jsonl"
    benchmark.write_text("".join(json.dumps({"problem": p}) + "\n" for p in BENCHMARK_PROBLEMS))
    register_benchmark(store, "mini", [benchmark])
    with store.transaction() as con:
        decontaminator = Decontaminator(con, ["mini"])
        embedded = "Consider this task, slightly reworded: " + BENCHMARK_PROBLEMS[0].replace("What is", "Find")
        hit = decontaminator.find(embedded + " Express your answer as an integer.")
        assert hit is not None and hit.benchmark == "mini"
        assert len(hit.ngram.split()) == 8 and hit.ngram in " ".join(words(BENCHMARK_PROBLEMS[0]))
        assert decontaminator.find("A train travels 120 km in 1.5 hours. What is its average speed?") is None
        seven_words = "the graph of y 2 x 2"  # 7 shared words in a row: below the 8-gram
        assert decontaminator.find(f"Sketch {seven_words} by hand") is None
        with pytest.raises(DecontamError, match="no benchmark 'aime'"):
            Decontaminator(con, ["aime"])

    contaminated = PromptRecord.create(embedded, source="test", reference="1")
    clean = PromptRecord.create("Problem E: how many primes are below 20?", source="test", reference="8")
    store.start_run(RunRecord(run_id="run", model="m"))
    store.add_prompts([contaminated, clean])
    store_batch(
        store,
        [
            JudgedSample.create(prompt_id=p.prompt_id, model="m", completion=reasoning(i), run_id="run", accepted=True)
            for i, p in enumerate([contaminated, clean])
        ],
    )
    report = curate(store, "clean", CurateSpec(decontam=["mini"]))
    assert report.record.row_count == 1 and report.excluded["contaminated"] == 1


def test_cli_curate_sets_export_and_bad_options(filled: Store, tmp_path: Path) -> None:
    db = str(filled.path)
    made = run_cli("curate", "sft", "--per-prompt", "1", "--pass-rate", "0:0.6", "--db", db)
    assert made.returncode == 0, made.stderr
    assert "sft@1: 2 samples of 2 prompts" in made.stdout and "excluded by pass_rate: 4" in made.stdout
    listed = run_cli("sets", "--db", db)
    assert "sft" in listed.stdout and "pass_rate" in listed.stdout
    exported = run_cli("export", "--set", "sft@1", "--out", str(tmp_path / "out"), "--db", db)
    assert exported.returncode == 0 and "2 rows" in exported.stdout
    bad = run_cli("curate", "x", "--prefer", "newest", "--db", db)
    assert bad.returncode == 1 and "--prefer 'newest'" in bad.stderr
    bad = run_cli("curate", "x", "--where", "no_such_column > 1", "--db", db)
    assert bad.returncode == 1 and "--where" in bad.stderr
    with pytest.raises(CurateError, match="pass-rate"):
        spec_from_options(pass_rate=(0.9, 0.1))


def test_cli_decontam_add_and_check(tmp_path: Path, db: Path) -> None:
    benchmark = tmp_path / "bench.jsonl"
    benchmark.write_text("".join(json.dumps({"question": p}) + "\n" for p in BENCHMARK_PROBLEMS))
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"problem": "Please solve: " + BENCHMARK_PROBLEMS[1], "answer": "2"}) + "\n")
    assert run_cli("import-prompts", str(prompts), "--db", str(db)).returncode == 0
    added = run_cli("decontam", "add", "mini", str(benchmark), "--db", str(db))
    assert added.returncode == 0 and "2 problems as word 8-grams" in added.stdout
    checked = run_cli("decontam", "check", "--db", str(db))
    assert checked.returncode == 0 and "mini: 'how many vertical asymptotes does the graph of'" in checked.stdout


@pytest.mark.realdata
def test_real_math500_problem_embedded_in_a_reworded_prompt(shared_data: Path, store: Store) -> None:
    math500 = shared_data / "problems" / "math500" / "math500.jsonl"
    register_benchmark(store, "math500", [math500])
    problems = [json.loads(line)["problem"] for line in math500.read_text().splitlines()]
    long_problem = next(p for p in problems if len(words(p)) > 30)
    first_half = " ".join(long_problem.split()[: len(long_problem.split()) // 2])
    reworded = f"Here is a practice question from my homework. {first_half} ... please explain each step simply."
    with store.transaction() as con:
        found = Decontaminator(con, ["math500"]).find_many(
            [reworded, "A farmer has 17 sheep and buys 5 more each spring for 3 years. How many sheep now?"]
        )
    assert found[0] is not None and found[0].benchmark == "math500"
    assert found[1] is None
