"""Samples as R1-distill samplers write them, for the cost benchmark's simulated server (benchmarks/cost_server.py).

A sample is a list of tokens, the simulator's own units (a word with the space or newline after it; a Chinese
word alone), decided by (the last user message, seed) alone: `<think>\\n`, English reasoning paragraphs of 60-250
tokens separated by a blank line, `\\n</think>\\n\\n` and a short answer with `\\boxed{}`, right with probability
`pass_rate`. Lengths are log-normal with R1's tail (p99 at 6.25x the median). A share of samples loops: after a
normal start one "Wait, let me re-check ..." paragraph of 20-100 tokens repeats to max_tokens, or until vLLM's
`repetition_detection` condition holds. Another share slips: at a random point the reasoning goes on in Chinese.
"""

import hashlib
import math
import random
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

SIGMA = math.log(25_000 / 4_000) / 2.326  # R1's long CoT: median ~4k tokens, p99 ~25k
PROBLEM = re.compile(r"What is (\d+) ([+*-]) (\d+)\?")
OPENERS = "So Then Now Next, Hmm, Okay, Well, Also, Wait, Right, First, Alternatively,".split()  # noqa: SIM905
WORDS = (  # noqa: SIM905
    "the a an of to in and or but if then so we it this that each every number sum digit carry column place value "
    "add adding subtract product term total result answer check again first second third next last left right "
    "ones tens hundreds thousands step part whole half double compute write keep move put take give get see look "
    "think know note remember recall careful quick simple easy small large big more less than equal same other "
    "both either because since while when after before until across down up over under between into from with "
    "without which what where how why maybe perhaps probably clearly indeed actually really just only also still "
    "even rather quite very much many few some any all none is are was be been being has have had do does did can "
    "could would should might must will shall let make made going gone came come ways way method approach idea "
    "reason sense fact case cases example examples pattern patterns rule rules fine good right wrong true false "
    "careful line lines row rows table order sign signs zero one two three four five six seven eight nine ten"
).split()
CHINESE = (  # noqa: SIM905
    "我们 计算 然后 所以 因为 这个 数字 结果 答案 检查 一下 首先 其次 最后 进位 个位 十位 百位 相加 相减 相乘 "
    "得到 等于 可能 应该 需要 注意 重新 考虑 问题 方法 步骤 正确 错误 继续 验证 总和 乘积 差值 部分 整体 简单 "
    "仔细 看看 也许 其实 确实 还是 已经 现在 接下来 另外 比较 大于 小于 同样 每一 位数 规律 例子 情况 分析"
).split()


@dataclass(frozen=True)
class Profile:
    """What the simulated sampler does: length, how often it loops or slips, how often it is right."""

    median_tokens: int = 2000
    loop_share: float = 0.06
    slip_share: float = 0.10
    pass_rate: float = 0.6


@dataclass(frozen=True)
class Generated:
    """One sample as the engine ends it: its tokens, why it ended, and what the simulator made of it."""

    tokens: list[str]
    finish_reason: str  # stop, length or repetition
    kind: str  # clean, loop or slip

    @property
    def text(self) -> str:
        return "".join(self.tokens)


def problems(count: int, seed: int = 0) -> list[tuple[str, str]]:
    """Distinct arithmetic problems with their answers."""
    rng, seen = random.Random(seed), {}
    while len(seen) < count:
        a, op, b = rng.randint(100, 999), rng.choice("+-*"), rng.randint(10, 999)
        seen.setdefault(f"What is {a} {op} {b}?", str(solve(a, op, b)))
    return list(seen.items())


def solve(a: int, op: str, b: int) -> int:
    return a + b if op == "+" else a - b if op == "-" else a * b


def _english(rng: random.Random, length: int) -> list[str]:
    """`length` tokens of English sentences, the last one ending the paragraph."""
    tokens: list[str] = []
    while len(tokens) < length:
        sentence = [rng.choice(OPENERS), *rng.choices(WORDS, k=rng.randint(5, 16))]
        if rng.random() < 0.3:
            a, b = rng.randint(2, 999), rng.randint(2, 99)
            op = rng.choice("+-*")
            sentence += [str(a), op, str(b), "=", str(solve(a, op, b))]
        tokens += [word + " " for word in sentence[:-1]] + [sentence[-1] + ". "]
    return tokens[:length]


def _chinese(rng: random.Random, length: int) -> list[str]:
    return [rng.choice(CHINESE) + ("。" if rng.random() < 0.1 else "") for _ in range(length)]


def _end_paragraph(token: str) -> str:
    if token[:1].isascii():
        return token.rstrip(" .") + ".\n\n"
    return token.rstrip("。") + "。\n\n"


def _kind(rng: random.Random, profile: Profile) -> str:
    draw = rng.random()
    if draw < profile.loop_share:
        return "loop"
    return "slip" if draw < profile.loop_share + profile.slip_share else "clean"


def _answer(message: str, right: bool, rng: random.Random) -> list[str]:
    found = PROBLEM.search(message)
    value = solve(int(found[1]), found[2], int(found[3])) if found else 0
    value += 0 if right else rng.choice([-10, -2, -1, 1, 2, 10, 100])
    return re.findall(r"\S+\s*", f"Adding it all up, the result is {value}.\n\nThe answer is $\\boxed{{{value}}}$.")


def generate(
    message: str, seed: int, profile: Profile, max_tokens: int, detection: dict[str, Any] | None
) -> Generated:
    """The sample that (message, seed) gives, ended at max_tokens, its natural end, or vLLM's loop detection."""
    digest = hashlib.blake2b(f"{seed}\0{message}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    rng = random.Random(int.from_bytes(digest, "big"))
    length = max(80, int(rng.lognormvariate(math.log(profile.median_tokens), SIGMA)))
    kind, right = _kind(rng, profile), rng.random() < profile.pass_rate
    answer = _answer(message, right, rng)
    reasoning_length = max(1, length - len(answer) - 2)
    loop_at = int(reasoning_length * rng.uniform(0.2, 0.9)) if kind == "loop" else None
    slip_at = int(reasoning_length * rng.uniform(0.15, 0.85)) if kind == "slip" else reasoning_length
    tokens = ["<think>\n"]
    while len(tokens) - 1 < reasoning_length and len(tokens) < max_tokens:
        if loop_at is not None and len(tokens) - 1 >= loop_at:  # one paragraph, said again to the end
            unit = ["Wait, ", "let ", "me ", "re-check ", *_english(rng, rng.randint(16, 96))]
            unit[-1] = _end_paragraph(unit[-1])
            tokens += unit * (max_tokens // len(unit) + 1)
            break
        paragraph = _english(rng, min(rng.randint(60, 250), reasoning_length - (len(tokens) - 1)))
        start = max(0, slip_at - (len(tokens) - 1))  # from here on the reasoning is Chinese
        paragraph[start:] = _chinese(rng, max(0, len(paragraph) - start))
        paragraph[-1] = _end_paragraph(paragraph[-1])
        tokens += paragraph
    ended = loop_at is None and len(tokens) < max_tokens
    if ended:
        tokens[-1] = tokens[-1].rstrip("\n")
        tokens += ["\n</think>\n\n", *answer]
    finish = "stop" if ended and len(tokens) <= max_tokens else "length"
    tokens = tokens[:max_tokens]
    stop = first_repetition_stop(tokens, detection) if detection else None
    return Generated(tokens[:stop], "repetition", kind) if stop else Generated(tokens, finish, kind)


def first_repetition_stop(tokens: list[str], detection: dict[str, Any]) -> int | None:
    """The number of generated tokens at which vLLM's `check_sequence_repetition` first holds: the last L tokens
    repeated `min_count` times in a row, for some L in [min_pattern_size, max_pattern_size]; None if never."""
    index: dict[str, int] = {}
    ids = np.array([index.setdefault(token, len(index)) for token in tokens], dtype=np.int64)
    count, positions, stops = int(detection["min_count"]), np.arange(len(ids)), []
    for size in range(max(1, int(detection.get("min_pattern_size", 1))), int(detection["max_pattern_size"]) + 1):
        if size * count > len(ids):
            break
        same = np.zeros(len(ids), dtype=bool)
        same[size:] = ids[size:] == ids[:-size]
        if np.count_nonzero(same) < size * (count - 1):  # too few matches for any run long enough
            continue
        # the run of `same` ending at each position: the tail is periodic with this size for that many tokens
        run = positions - np.maximum.accumulate(np.where(~same, positions, -1))
        hit = np.flatnonzero((run >= size * (count - 1)) & (positions + 1 >= size * count))
        if len(hit):
            stops.append(int(hit[0]) + 1)
    return min(stops) if stops else None
