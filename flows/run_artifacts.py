"""A run's Prefect artifacts of its outcome: the funnel as a table, with the tokens of each outcome, and the run's
cost (GPU tokens per accepted trace, aborts) as markdown, both read from the store's one readers."""

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from cotfactory.storage.funnel import FunnelRow
from cotfactory.storage.run_cost import RunCost


def cost_markdown(cost: RunCost) -> str:
    """The run's cost figures as a markdown table."""
    lines = [f"**GPU tokens per accepted trace** of run `{cost.run_id}`", "", "| figure | value |", "|---|---|"]
    lines += [f"| {name} | {value.replace('|', '/')} |" for name, value in cost.figures()]
    return "\n".join(lines) + "\n"


def outcome_artifacts(run_id: str, funnel: list[FunnelRow], cost: RunCost) -> None:
    """The funnel table (`funnel-RUN_ID`) and the cost (`cost-RUN_ID`) as artifacts of the current flow run."""
    table = [
        {
            "check": row.check_name,
            "reason": row.reason,
            "samples": row.samples,
            "share": round(row.share, 4),
            "generated_tokens": row.generated_tokens,
        }
        for row in funnel
    ]
    create_table_artifact(key=f"funnel-{run_id}", table=table, description=f"Outcome of every sample of run {run_id}")
    create_markdown_artifact(
        key=f"cost-{run_id}", markdown=cost_markdown(cost), description=f"What run {run_id} generated and kept"
    )
