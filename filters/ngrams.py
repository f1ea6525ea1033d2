"""Word n-gram hashes shared by near-duplicate detection and decontamination: each word hashed once with xxh3,
n-grams rolled from the word hashes with uint64 arithmetic over a whole batch at once."""

import numpy as np
import xxhash

ROLL = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant: n-gram hash = roll of its word hashes


class WordHashes(dict[str, int]):
    """Word -> xxh3_64 of its UTF-8 bytes, computed on first sight (each word is hashed once per process)."""

    def __missing__(self, word: str) -> int:
        value = self[word] = xxhash.xxh3_64_intdigest(word.encode())
        return value


def rolled_ngrams(word_hashes: np.ndarray, n: int) -> np.ndarray:
    """The uint64 hash of every run of `n` consecutive word hashes (none when there are fewer than `n`)."""
    span = len(word_hashes) - n + 1
    if span <= 0:
        return np.empty(0, dtype=np.uint64)
    rolled = word_hashes[:span].copy()
    with np.errstate(over="ignore"):
        for offset in range(1, n):
            rolled = rolled * ROLL + word_hashes[offset : offset + span]
    return rolled
