"""The run config: one TOML file says which prompts, which model, how many samples and which checks.

Everything is validated before any work starts; an unknown key or a bad value fails naming the key.
Relative paths are read from the config file's folder.
"""

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator, model_validator

from cotfactory.filters.runner import DEFAULT_CHECKS, CheckConfigError, build_checks
from cotfactory.filters.scripts import language_scripts
from cotfactory.flows.run_id import run_id_of
from cotfactory.samplers.base import LOCAL_MODEL_PREFIXES, SamplingParams
from cotfactory.samplers.registry import SAMPLERS
from cotfactory.storage.errors import CotfactoryError
from cotfactory.storage.ids import xxh3_id
from cotfactory.storage.records import Domain


class ConfigError(CotfactoryError, ValueError):
    """A run config that cannot be used; the message names the file and the key."""


class Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PromptSelection(Strict):
    """Which stored prompts the run samples. `files` are imported first (a re-import adds nothing), with
    `source` as their source name; the other keys select among the stored prompts, in prompt-id order."""

    files: list[Path] = Field(default_factory=list)
    source: str | None = None
    domain: Domain | None = None
    where: str | None = Field(None, description="An SQL predicate over the prompts table's columns")
    limit: int | None = Field(None, ge=1)
    problem_field: str | None = None
    answer_field: str | None = None
    language: str | None = Field(None, description="Target language (a CLDR code: en, zh, ja, th, pt-BR, ...)")

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str | None) -> str | None:
        if value is not None:
            language_scripts(value)  # UnknownLanguage (a ValueError) names it
        return value


def _with_kind(kind: str, settings: type[BaseModel]) -> type[BaseModel]:
    """A sampler's own settings plus `kind = "<kind>"`, which tells the `[sampler]` tables apart."""
    return create_model(f"{kind.capitalize()}SamplerConfig", __base__=settings, kind=(Literal[kind], ...))


# One config model per registered sampler (samplers/registry.py): a new sampler needs no edit here.
SAMPLER_CONFIGS: dict[str, type[BaseModel]] = {
    kind: _with_kind(kind, kind_.settings) for kind, kind_ in SAMPLERS.items()
}
SamplerConfig = Annotated[Union[tuple(SAMPLER_CONFIGS.values())], Field(discriminator="kind")]  # type: ignore[valid-type]  # noqa: UP007
OpenAISamplerConfig: Any = SAMPLER_CONFIGS["openai"]  # the judge's server


class JudgeConfig(Strict):
    """An LLM judge for the answers math-verify rejects, served by any OpenAI-compatible endpoint."""

    sampler: OpenAISamplerConfig
    max_tokens: int = Field(1024, ge=1)


class CheckingConfig(Strict):
    """How checks run: worker processes, the per-sample time limit, and the two fallbacks for correctness."""

    workers: int | None = Field(None, ge=1, description="Check processes; default: the number of cores")
    timeout_s: float = Field(30.0, gt=0)
    majority_vote: bool = Field(False, description="Prompts without a reference take their samples' majority")
    judge: JudgeConfig | None = None
    abort_doomed: bool = Field(True, description="Abort a streamed sample once a prefix-monotone check dooms it")


class DedupConfig(Strict):
    """Accepted samples equal or nearly equal to a kept one (any run, any prompt) are rejected as `duplicate`
    or `near_duplicate`. MinHash over word n-grams with banded LSH, as datatrove."""

    enabled: bool = True
    ngram: int = Field(5, ge=1)
    bands: int = Field(14, ge=1)
    rows: int = Field(8, ge=1)
    threshold: float = Field(0.7, gt=0, le=1, description="Estimated Jaccard similarity of a near-duplicate")


class ClusterConfig(Strict):
    """A run split into `shards` flow runs on a Prefect work pool, each writing its own store under `shard_dir`
    (a folder every worker reaches; default: `DB.shards` beside the store), merged into the run's store."""

    shards: int = Field(1, ge=1, le=4096)
    work_pool: str | None = Field(None, min_length=1, description="The work pool; none: one process runs it all")
    shard_dir: Path | None = None
    heartbeat_s: int = Field(30, ge=30, description="Seconds between a shard's heartbeats (Prefect: >= 30)")
    zombie_after_s: float = Field(90.0, ge=10, description="A shard silent this long is marked Crashed, then rerun")

    @model_validator(mode="after")
    def _zombie_after_heartbeats(self) -> "ClusterConfig":
        if self.zombie_after_s <= self.heartbeat_s:  # else every live shard would be taken for dead between beats
            raise ValueError("zombie_after_s must be longer than heartbeat_s")
        return self


class RunConfig(Strict):
    """A rejection-sampling run."""

    db: Path = Path("cotfactory.duckdb")
    name: str = Field("default", min_length=1, description="Part of the run id: a new name starts a new run")
    prompts: PromptSelection = PromptSelection()
    sampler: SamplerConfig
    sampling: SamplingParams = SamplingParams()
    samples_per_round: int = Field(4, ge=1, le=1024)
    target_accepted: int = Field(1, ge=1)
    on_target: Literal["keep", "abort"] = Field("keep", description="A prompt's samples in flight once it has its "
                                                "target: kept (R1), or aborted and stored as target_met")  # fmt: skip
    max_rounds: int = Field(1, ge=1)
    batch_size: int = Field(
        64, ge=1, description="At most this many prompt rounds are checked and stored together; for samplers that "
        "do not stream (vllm, replay), also the most prompts of one generate call"
    )  # fmt: skip
    commit_interval_s: float = Field(1.0, gt=0, description="The store step's wait for a round, between Ctrl-C looks")
    sample_retries: int = Field(2, ge=0, description="Retries of a failed generate call of a sampler that does not "
                                "stream; the HTTP sampler retries each request (max_retries)")  # fmt: skip
    checks: list[str | dict[str, Any]] = Field(default_factory=lambda: list(DEFAULT_CHECKS))
    checking: CheckingConfig = CheckingConfig()
    dedup: DedupConfig = DedupConfig()
    decontam: list[str] = Field(
        default_factory=list, description="Registered benchmarks whose overlapping prompts' samples are rejected"
    )
    cluster: ClusterConfig = ClusterConfig()

    @field_validator("sampling", mode="before")
    @classmethod
    def _n_is_samples_per_round(cls, value: Any) -> Any:
        if isinstance(value, dict) and "n" in value:
            raise ValueError("set samples_per_round instead of sampling.n")
        return value

    @field_validator("checks")
    @classmethod
    def _checks_exist(cls, value: list[str | dict[str, Any]]) -> list[str | dict[str, Any]]:
        try:
            build_checks(value)
        except CheckConfigError as error:
            raise ValueError(str(error)) from error
        return value

    @model_validator(mode="before")
    @classmethod
    def _imported_files_have_a_source(cls, values: Any) -> Any:
        # Imported files need a source name so that the selection finds them again on a rerun.
        prompts = values.get("prompts") if isinstance(values, dict) else None
        if isinstance(prompts, dict) and prompts.get("files") and not prompts.get("source"):
            values = {**values, "prompts": {**prompts, "source": values.get("name", "default")}}
        return values

    @property
    def model(self) -> str:
        return self.sampler.model

    def params_for_round(self, round_index: int) -> SamplingParams:
        """This round's sampling params: n samples per prompt, a base seed of its own."""
        seed = int(xxh3_id(str(self.sampling.seed), str(round_index)), 16) & 0x7FFF_FFFF
        return self.sampling.model_copy(update={"n": self.samples_per_round, "seed": seed})

    def as_json(self) -> dict[str, Any]:
        """The config as a TOML-like table that validates again (what runs store and deployments pass on)."""
        return self.model_dump(mode="json", exclude={"sampling": {"n"}})

    def run_id(self) -> str:
        """Same config, same run: every setting that can change a completion or a verdict, and none of those
        that only decide where or how fast the run goes (`RUN_ID_EXCLUDED`)."""
        return run_id_of(self.as_json())


def _key(location: tuple[Any, ...]) -> str:
    # A discriminated union puts the chosen kind into the location (sampler.vllm.model): drop it.
    parts = [str(part) for part in location if part not in (*SAMPLERS, "str", "dict[str,any]")]
    return ".".join(parts) or "(top level)"


def _resolve(path: Path, folder: Path) -> Path:
    path = path.expanduser()
    return path if path.is_absolute() else (folder / path).resolve()


def _looks_like_path(model: str) -> bool:
    # A hub name is `org/name`; a local model is written as a path.
    return model.startswith(LOCAL_MODEL_PREFIXES)


def _with_paths_resolved(raw: dict[str, Any], folder: Path) -> dict[str, Any]:
    raw = dict(raw)
    if "db" in raw and isinstance(raw["db"], str):
        raw["db"] = str(_resolve(Path(raw["db"]), folder))
    if isinstance(prompts := raw.get("prompts"), dict) and isinstance(prompts.get("files"), list):
        raw["prompts"] = {**prompts, "files": [str(_resolve(Path(str(f)), folder)) for f in prompts["files"]]}
    if isinstance(sampler := raw.get("sampler"), dict):
        sampler = dict(sampler)
        model = sampler.get("model")
        if isinstance(model, str) and (_looks_like_path(model) or (folder / model).exists()):
            sampler["model"] = str(_resolve(Path(model), folder))
        if isinstance(sampler.get("paths"), list):
            sampler["paths"] = [str(_resolve(Path(str(p)), folder)) for p in sampler["paths"]]
        raw["sampler"] = sampler
    if isinstance(cluster := raw.get("cluster"), dict) and isinstance(cluster.get("shard_dir"), str):
        raw["cluster"] = {**cluster, "shard_dir": str(_resolve(Path(cluster["shard_dir"]), folder))}
    return raw


def _check_files(config: RunConfig, source: Path) -> None:
    for index, path in enumerate(config.prompts.files):
        if not path.is_file() or not os.access(path, os.R_OK):
            raise ConfigError(f"{source}: prompts.files[{index}]: cannot read {path}")
    # each sampler's settings know which of them name files (a replay's traces, a local model folder)
    for problem in config.sampler.file_problems():
        raise ConfigError(f"{source}: sampler.{problem}")
    if not config.db.parent.is_dir():
        raise ConfigError(f"{source}: db: folder {config.db.parent} does not exist")


def parse_config(raw: dict[str, Any], source: Path, *, overrides: dict[str, Any] | None = None) -> RunConfig:
    """A validated config from a TOML table; `source` names the file in errors and anchors relative paths."""
    raw = _with_paths_resolved({**raw, **(overrides or {})}, source.parent.resolve())
    try:
        config = RunConfig.model_validate(raw)
    except ValidationError as error:
        problems = [f"{_key(e['loc'])}: {e['msg']}" for e in error.errors()]
        raise ConfigError(f"{source}: " + "; ".join(problems)) from None
    _check_files(config, source)
    return config


def load_config(path: str | Path, *, db: Path | None = None) -> RunConfig:
    """Read and validate a TOML run config; `db` replaces the config's database path."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as error:
        raise ConfigError(f"cannot read run config {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    return parse_config(raw, path, overrides={"db": str(db.resolve())} if db else None)
