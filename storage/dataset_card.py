"""The dataset card of an export: a README.md whose YAML header the Hugging Face Hub and `datasets.load_dataset`
read (configs, features, split sizes, size category), and a body that says what the rows are and where they
came from (the curation spec, counts, source runs)."""

import json
from typing import Any

CARD = "README.md"

_TURN = {"role": "string", "content": "string"}
# The columns of each row shape, as the Hub's YAML writes features: a list of structs, or a string.
FEATURES: dict[str, dict[str, Any]] = {
    "messages": {"messages": [_TURN], "id": "string"},
    "sharegpt": {"conversations": [{"from": "string", "value": "string"}], "id": "string"},
    "prompt-completion": {"prompt": [_TURN], "completion": [_TURN], "id": "string"},
}
_SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"))


def size_category(rows: int) -> str:
    """The Hub's size category of a dataset of `rows` rows."""
    return next((name for limit, name in _SIZE_CATEGORIES if rows < limit), "1M<n<10M" if rows < 10**7 else "n>10M")


def _yaml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid YAML scalar


def _feature_lines(name: str, kind: Any, indent: str) -> list[str]:
    if isinstance(kind, list):
        lines = [f"{indent}- name: {name}", f"{indent}  list:"]
        for field, dtype in kind[0].items():
            lines += [f"{indent}  - name: {_yaml_string(field)}", f"{indent}    dtype: {dtype}"]
        return lines
    return [f"{indent}- name: {name}", f"{indent}  dtype: {kind}"]


def card_text(manifest: dict[str, Any], shape: str, file_glob: str) -> str:
    """The README.md of an export described by `manifest`, whose rows have `shape` and whose shards match
    `file_glob`."""
    header = [
        "---",
        "# license: fill in the license of the problems and of the model's outputs",
        "license: other",
        "language:",
        *[f"- {language}" for language in manifest.get("languages") or ["en"]],
        "tags:",
        "- synthetic",
        "- reasoning",
        "- chain-of-thought",
        "- cotfactory",
        "size_categories:",
        f"- {size_category(manifest['rows'])}",
        "configs:",
        "- config_name: default",
        "  data_files:",
        "  - split: train",
        f"    path: {_yaml_string(file_glob)}",
        "dataset_info:",
        "  features:",
    ]
    for name, kind in FEATURES[shape].items():
        header += _feature_lines(name, kind, "  ")
    header += [
        "  splits:",
        "  - name: train",
        f"    num_examples: {manifest['rows']}",
        f"    num_bytes: {manifest['bytes']}",
        "---",
    ]
    selection = manifest["selection"]
    if "set" in selection:
        title = f"{selection['set']} (version {selection['version']})"
        origin = "the curated set `{set}@{version}` of a cotfactory store".format(**selection)
    else:
        title = f"accepted samples of run {selection['run']}"
        origin = f"the samples run `{selection['run']}` ({selection.get('model')}) accepted"
    body = [
        "",
        f"# {title}",
        "",
        f"{manifest['rows']:,} reasoning samples in the `{shape}` shape, {len(manifest['shards'])} "
        f"{manifest['file_format']} shard(s), {manifest['bytes']:,} bytes: {origin}. Each sample was sampled by a "
        "model, then kept by rejection sampling: its final answer matched the reference, its reasoning was "
        "closed, not truncated, not looping and in one language, and it was no duplicate. The assistant turn "
        "holds the reasoning inside `<think>...</think>` followed by the answer.",
        "",
        "## Selection",
        "",
        "```json",
        json.dumps(selection, indent=2, ensure_ascii=False, sort_keys=True),
        "```",
        "",
        "## Source runs",
        "",
        *[f"- `{run}`" for run in manifest.get("source_runs") or []],
        "",
        f"Made by cotfactory {manifest['package_version']}; `manifest.json` holds each shard's rows, bytes "
        "and xxh3_64 checksum.",
        "",
    ]
    return "\n".join(header + body)
