"""Faults in check workers: a worker that dies is replaced and only its culprit sample is charged; a hang is
charged to the check that hung. Either is a verdict of that check: the sample's other verdicts are kept."""

import fake_checks
import pytest

from cotfactory.filters.chain import Chain
from cotfactory.filters.checks import Sample
from cotfactory.filters.runner import NamedCheck, build_checks

CORRECT = "<think>\nTwo and two make four.\n</think>\n\nThe answer is \\boxed{4}."


def samples(problems: list[str]) -> list[Sample]:
    return [Sample.from_completion(problem, CORRECT, reference="4", prompt_id=str(i)) for i, problem in
            enumerate(problems)]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("check", ["kills_its_worker", "segfaults"])
def test_a_dead_worker_costs_only_its_culprit(check: str) -> None:
    marker = "KILL" if check == "kills_its_worker" else "SEGV"
    problems = [f"What is 2 + 2? ({i})" for i in range(64)]
    problems[21] = f"{marker} What is 2 + 2?"  # in the middle of the second chunk of 16
    with Chain(build_checks(["think_format", "math_verify", check]), workers=1, timeout_s=60) as runner:
        decisions = runner.run(samples(problems))
        assert [(i, d.check, d.reason) for i, d in enumerate(decisions) if not d.accepted] == [
            (21, check, "check_crashed")
        ]
        assert "died twice" in decisions[21].verdicts[check].detail
        kept = decisions[21].verdicts
        assert set(kept) == {"think_format", "math_verify", check}, "the checks before the crash keep their verdicts"
        assert kept["think_format"].passed and kept["math_verify"].passed
        assert all(set(d.verdicts) == {"think_format", "math_verify", check} for d in decisions if d.accepted)
        assert runner.workers_replaced == 2, "one try, one retry of the culprit alone"
        # The runner goes on serving batches with its replaced worker.
        again = runner.run(samples(problems[:4]))
        assert all(d.accepted for d in again)


@pytest.mark.slow
def test_two_workers_one_crash_each_batch_finishes() -> None:
    problems = [f"What is 2 + 2? ({i})" for i in range(20)]
    problems[3] = problems[17] = "KILL What is 2 + 2?"
    with Chain(build_checks(["think_format", "kills_its_worker"]), workers=2, timeout_s=60) as runner:
        decisions = runner.run(samples(problems))
    assert [i for i, d in enumerate(decisions) if not d.accepted] == [3, 17]
    assert {decisions[3].reason, decisions[17].reason} == {"check_crashed"}


@pytest.mark.slow
def test_a_hang_is_charged_to_the_check_that_hung() -> None:
    """The first expensive check (math_verify) passes; the hang is in the check after it."""
    checks = [
        *build_checks(["think_format", "math_verify"]),
        NamedCheck("code_tests", fake_checks.HangsOnMarked(), True),
    ]
    problems = ["What is 2 + 2?", "HANG What is 2 + 2?", "What is 2 + 2? (again)"]
    with Chain(checks, workers=1, timeout_s=1.0) as runner:
        decisions = runner.run(samples(problems))
    assert [d.accepted for d in decisions] == [True, False, True]
    assert (decisions[1].check, decisions[1].reason) == ("code_tests", "verify_timeout")
    assert "code_tests" in decisions[1].verdicts["code_tests"].detail
    hung = decisions[1].verdicts
    assert set(hung) == {"think_format", "math_verify", "code_tests"}, "the checks before the hang keep their verdicts"
    assert hung["think_format"].passed and hung["math_verify"].passed


@pytest.mark.slow
def test_an_audit_with_every_check_runs_the_checks_after_a_hang() -> None:
    checks = [
        *build_checks(["think_format"]),
        NamedCheck("code_tests", fake_checks.HangsOnMarked(), True),
        *build_checks(["math_verify"]),
    ]
    with Chain(checks, workers=1, timeout_s=1.0, all_checks=True) as runner:
        (decision,) = runner.run(samples(["HANG What is 2 + 2?"]))
    assert (decision.check, decision.reason) == ("code_tests", "verify_timeout")
    assert decision.verdicts["math_verify"].passed, "a check after the one that hung still runs"
