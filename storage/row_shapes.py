"""The row shapes an export writes (`messages`, `sharegpt`, `prompt-completion`), as polars expressions over
the exported columns (problem, reasoning, answer, completion, sample_id), so rows are built without Python."""

from typing import Literal

import polars as pl

from cotfactory.storage.errors import CotfactoryError

RowShape = Literal["messages", "sharegpt", "prompt-completion"]
ROW_SHAPES: tuple[str, ...] = ("messages", "sharegpt", "prompt-completion")


class ExportError(CotfactoryError):
    """The export cannot be done as asked (unknown row shape or run, output folder in the way)."""


def _assistant_turn() -> pl.Expr:
    """The turn R1-style models are trained on; a sample without separate reasoning exports as sampled."""
    think = pl.concat_str(
        [pl.lit("<think>\n"), pl.col("reasoning"), pl.lit("\n</think>\n\n"), pl.col("answer").fill_null("")]
    )
    return pl.when(pl.col("reasoning").is_null()).then(pl.col("completion")).otherwise(think)


def check_shape(shape: str) -> None:
    """Refuse an unknown row shape before anything is written."""
    if shape not in ROW_SHAPES:
        raise ExportError(f"unknown row shape {shape!r}; choose one of {', '.join(ROW_SHAPES)}")


def row_expression(shape: RowShape) -> pl.Expr:
    """One struct per sample with the columns of the row shape `shape`."""
    check_shape(shape)
    problem, assistant, sample_id = pl.col("problem"), _assistant_turn(), pl.col("sample_id")
    if shape == "messages":
        turns = [
            pl.struct(role=pl.lit("user"), content=problem),
            pl.struct(role=pl.lit("assistant"), content=assistant),
        ]
        return pl.struct(messages=pl.concat_list(turns), id=sample_id)
    if shape == "sharegpt":
        turns = [
            pl.struct(**{"from": pl.lit("human"), "value": problem}),
            pl.struct(**{"from": pl.lit("gpt"), "value": assistant}),
        ]
        return pl.struct(conversations=pl.concat_list(turns), id=sample_id)
    user = pl.concat_list([pl.struct(role=pl.lit("user"), content=problem)])
    reply = pl.concat_list([pl.struct(role=pl.lit("assistant"), content=assistant)])
    return pl.struct(prompt=user, completion=reply, id=sample_id)
