"""Language consistency, as R1 defined it: the share of target-language words in the reasoning. A share alone
misses the short fragments real traces slip into (a few Chinese words in 8,000 characters of English keep it
above 0.99), so fragments of two or more foreign words or characters are flagged too, in reasoning and answer.

Every character is classified before words are counted (`filters/scripts.py`): letters by their Unicode
Script_Extensions against the target language's scripts (from CLDR, so any language works); digits, sub- and
superscripts, letterlike and math symbols, arrows, box drawing and emoji are no word at all. Math, code and
URLs are removed first; Greek letters count as math outside Greek. Quoted text is exempt only when it is in
the target's script or quotes what the problem itself says. Two languages of one script (English, German)
are told apart by lingua when configured (`same_script`).
"""

import re
import unicodedata
from dataclasses import dataclass

from cotfactory.filters.checks import Sample, Verdict, failed, passed, register
from cotfactory.filters.language_labels import without_labels
from cotfactory.filters.language_prefix import settled_text
from cotfactory.filters.language_words import TARGET, Classifier, Token, exempt_quotes, strip_non_language
from cotfactory.filters.prefix import PromptContext, Watch
from cotfactory.filters.prefix_watches import FragmentWatch
from cotfactory.filters.same_script import detector, foreign_sentences
from cotfactory.filters.scripts import CHARACTER_SCRIPTS, language_scripts, script_of

_SEPARATOR = re.compile(r"^[\s,.;:!?()\[\]{}'\"“”‘’、，。；：！？（）·\-–—/]*$")

# Latin words a reasoning in another script may use: function names, units, common math shorthand.
_FUNCTIONS = "sin cos tan cot sec csc arcsin arccos arctan sinh cosh tanh log ln lg exp lim sup inf gcd lcm mod"
_SHORTHAND = "max min det rank dim deg arg"
_UNITS = "cm mm km kg mg ml ms mol rad kmh mph"
MATH_TERMS = frozenset(f"{_FUNCTIONS} {_SHORTHAND} {_UNITS}".split())


def _words_of(text: str, classifier: Classifier) -> tuple[str, list[Token]]:
    # a single ASCII letter is a variable (x, y, n), in any language's reasoning
    return text, [t for t in classifier.tokens(text) if not (len(t.text) == 1 and t.text.isascii())]


def _tail(text: str, chars: int = 8192) -> str:
    """The end of a settled text, from a word boundary about `chars` back: the candidate a watch confirms is in
    its last sentences, and a fragment found there is one of the whole (words are only cut where none runs on:
    each character of a CJK script is a word of its own)."""
    start = len(text) - chars
    if start <= 0:
        return text
    while start < len(text) and _inside_word(text[start - 1]) and _inside_word(text[start]):
        start += 1
    return text[start:]


def _inside_word(character: str) -> bool:
    if unicodedata.category(character).startswith("M"):
        return True
    return character.isalpha() and script_of(character) not in CHARACTER_SCRIPTS


def detect_language(text: str) -> str:
    """A coarse target language from the script of most words of `text` (a problem): zh, ja, ko, ru, el or en,
    or the script's own lowercased ISO code (a CLDR language code is not needed for the check)."""
    counts: dict[str, int] = {}
    for token in Classifier(frozenset()).tokens(strip_non_language(text)):
        counts[token.script] = counts.get(token.script, 0) + 1
    kana = counts.get("Hira", 0) + counts.get("Kana", 0)
    if kana and kana + counts.get("Hani", 0) >= counts.get("Latn", 0):
        return "ja"
    best = max(counts, key=counts.get, default="Latn")  # type: ignore[arg-type]
    return {"Hani": "zh", "Hang": "ko", "Cyrl": "ru", "Latn": "en", "Grek": "el"}.get(best, best.lower())


def _target_scripts(language: str) -> frozenset[str]:
    try:
        return language_scripts(language)
    except ValueError:  # a script code from detect_language ("thai", "beng")
        return frozenset({language.title()})


@register("language", reasons=("language_mixed", "answer_language"), prefix_reasons=("language_mixed",))
@dataclass(frozen=True)
class LanguageConsistency:
    """Reasoning in one language: the target-language share of words at least `min_share`, and no foreign
    fragment of `min_fragment` words (or characters, for CJK scripts) or more; the answer held to the same
    fragment rule (`answer_fragments`) and to a target-language majority. Score = the reasoning's share."""

    min_share: float = 0.95
    min_fragment: int = 2
    check_answer: bool = True
    answer_fragments: bool = True
    min_answer_words: int = 3
    # `Final Answer:` in an answer of another language: counted (`reject`, R1's rule) or not (`allow`).
    answer_labels: str = "reject"
    # Languages sharing the target's script to tell apart with lingua (e.g. ["en", "de"]); empty: script only.
    same_script: tuple[str, ...] = ()
    min_sentence_words: int = 4
    min_confidence: float = 0.9

    def __post_init__(self) -> None:
        if self.answer_labels not in ("reject", "allow"):
            raise ValueError(f"answer_labels must be reject or allow, not {self.answer_labels!r}")
        if self.same_script:
            detector(tuple(sorted(set(self.same_script))))  # fail at config time, not in a worker

    def _is_foreign(self, token: Token) -> bool:
        if token.script == TARGET:
            return False
        if token.script == "Latn":
            # in a non-Latin reasoning: variables, function names, units and acronyms (AM-GM) are math
            return not (len(token.text) == 1 or token.text.lower() in MATH_TERMS or token.text.isupper())
        return True

    def _fragments(self, text: str, words: list[Token]) -> list[str]:
        fragments: list[str] = []
        run: list[Token] = []
        for token in words:
            foreign = self._is_foreign(token)
            joined = run and _SEPARATOR.match(text[run[-1].end : token.start])
            if foreign and (not run or joined):
                run.append(token)
                continue
            if len(run) >= self.min_fragment:
                fragments.append(text[run[0].start : run[-1].end])
            run = [token] if foreign else []
        if len(run) >= self.min_fragment:
            fragments.append(text[run[0].start : run[-1].end])
        return fragments

    def _words(self, text: str, classifier: Classifier, problem: str) -> tuple[str, list[Token]]:
        return _words_of(exempt_quotes(strip_non_language(text), classifier, problem), classifier)

    def watch(self, context: PromptContext) -> Watch:
        """Only the fragment rule on the reasoning: a share of foreign words can fall again as the text goes on.
        A sentence judged alone names a candidate; the fragments of the reasoning so far, read as far as no
        continuation can change its reading, confirm it."""
        language = context.target_language or detect_language(context.problem)
        classifier = Classifier(_target_scripts(language))
        problem = context.problem
        return FragmentWatch(
            lambda block: self._fragments(*self._words(block, classifier, problem)),
            lambda reasoning, closed: self._fragments(
                *(
                    self._words(reasoning, classifier, problem)
                    if closed
                    else _words_of(_tail(settled_text(reasoning, classifier, problem)), classifier)
                )
            ),
            language,
        )

    def __call__(self, sample: Sample) -> Verdict:
        language = sample.target_language or detect_language(sample.problem)
        classifier = Classifier(_target_scripts(language))
        text, words = self._words(sample.reasoning, classifier, sample.problem)
        foreign = sum(self._is_foreign(t) for t in words)
        share = 1.0 if not words else 1 - foreign / len(words)
        fragments = self._fragments(text, words)
        if fragments:
            return failed("language_mixed", share, f"{language} reasoning with {fragments[0][:80]!r}")
        if self.same_script and language in self.same_script and words:
            foreign_text = foreign_sentences(
                text, language, self.same_script, min_words=self.min_sentence_words, min_confidence=self.min_confidence
            )
            if foreign_text:
                share = min(share, 1 - sum(count for _, _, count in foreign_text) / len(words))
                sentence, code, _ = foreign_text[0]
                return failed("language_mixed", share, f"{language} reasoning with {code}: {sentence[:80]!r}")
        if share < self.min_share:
            return failed("language_mixed", share, f"{share:.1%} {language}")
        if self.check_answer:
            answer = without_labels(sample.answer) if self.answer_labels == "allow" else sample.answer
            answer_text, answer_words = self._words(answer, classifier, sample.problem)
            if self.answer_fragments and (found := self._fragments(answer_text, answer_words)):
                return failed("answer_language", share, f"{language} answer with {found[0][:80]!r}")
            answer_foreign = sum(self._is_foreign(t) for t in answer_words)
            if len(answer_words) >= self.min_answer_words and answer_foreign > len(answer_words) / 2:
                return failed("answer_language", share, f"answer not in {language}")
        return passed(share)
