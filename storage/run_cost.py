"""A run's cost, read from the `run_cost` view: GPU tokens per accepted trace and where the tokens went. `status`,
the report, the run's Prefect artifact and its end-of-run table all show this one reading."""

from dataclasses import dataclass, fields

import duckdb


@dataclass(frozen=True)
class RunCost:
    """One row of `run_cost`. Token sums are None where the store holds no count for them (a server that
    reports usage per request only gives per-sample counts to none of its samples)."""

    run_id: str
    samples: int
    accepted: int
    target_met: int  # stopped because their prompt had its target: neither accepted nor rejected
    pass_rate: float | None  # accepted / (samples - target_met)
    generated_tokens: int | None
    prompt_tokens: int | None
    tokens_per_accepted: float | None  # generated_tokens / accepted; None when nothing was accepted
    rejected_tokens: int | None
    aborted_samples: int
    aborted_tokens: int | None
    saved_tokens: int  # an estimate: what the aborted samples would still have generated

    @classmethod
    def empty(cls, run_id: str) -> "RunCost":
        """The cost of a run the store holds nothing of."""
        return cls(run_id, 0, 0, 0, None, 0, 0, None, 0, 0, 0, 0)

    def figures(self) -> list[tuple[str, str]]:
        """The figures people read, as (name, text) pairs in the order every display shows them."""
        judged = self.samples - self.target_met
        rate = "∅" if self.pass_rate is None else f"{self.pass_rate:.1%}"
        pass_rate = f"{rate} ({self.accepted:,} accepted of {judged:,})"
        if self.target_met:
            pass_rate += f"; {self.target_met:,} stopped at their prompt's target, left out"
        per_accepted = "∅ (none accepted)" if self.tokens_per_accepted is None else f"{self.tokens_per_accepted:,.1f}"
        return [
            ("GPU tokens per accepted trace", per_accepted),
            ("generated tokens", _tokens(self.generated_tokens)),
            ("prompt tokens", _tokens(self.prompt_tokens)),
            ("pass rate", pass_rate),
            ("tokens of rejected samples", _tokens(self.rejected_tokens)),
            ("aborted samples", f"{self.aborted_samples:,} ({_tokens(self.aborted_tokens)} tokens)"),
            ("tokens saved by aborts (estimate)", f"{self.saved_tokens:,}"),
        ]


def _tokens(count: int | None) -> str:
    return "∅" if count is None else f"{count:,}"


_COLUMNS = ", ".join(field.name for field in fields(RunCost))


def run_cost(con: duckdb.DuckDBPyConnection, run_id: str) -> RunCost:
    """The cost of run `run_id` (an empty one for a run the store does not know)."""
    found = con.execute(f"SELECT {_COLUMNS} FROM run_cost WHERE run_id = ?", [run_id]).fetchall()
    if not found:
        return RunCost.empty(run_id)
    (row,) = found
    return RunCost(*row)
