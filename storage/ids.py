"""Content-derived ids: 16-hex-digit xxh3_64 digests, readable in SQL and safe in JSON."""

import unicodedata

import xxhash

# A separator that cannot occur in the joined parts' meaning: keeps ("ab", "c") and ("a", "bc") apart.
_SEP = "\x1f"


def xxh3_id(*parts: str) -> str:
    """The xxh3_64 hex digest of the parts joined with a unit separator."""
    return xxhash.xxh3_64_hexdigest(_SEP.join(parts).encode("utf-8"))


def normalize_problem(problem: str) -> str:
    """NFC and collapsed whitespace: the same problem typed twice gets the same id."""
    return " ".join(unicodedata.normalize("NFC", problem).split())


def prompt_id_for(problem: str) -> str:
    """The prompt id of a problem statement; re-importing it is a no-op."""
    return xxh3_id(normalize_problem(problem))


def sample_id_for(prompt_id: str, model: str, completion: str, reasoning: str | None = None) -> str:
    """The sample id: the same completion of the same prompt by the same model collapses on insert. A server that
    returns the reasoning apart (`reasoning_content`) makes it part of the completion: samples that reason
    differently to the same answer text are different samples."""
    if reasoning is None:
        return xxh3_id(prompt_id, model, completion)
    return xxh3_id(prompt_id, model, completion, "reasoning_content", reasoning)
