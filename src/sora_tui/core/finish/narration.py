"""Narration length rules: about 2.5 spoken words a second, checked before anything is rendered.

A line that does not fit its segment is reported (never cut mid-word); the planners use
:func:`fit_words` to write lines that fit from the start.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..models import Plan

WORDS_PER_SECOND = 2.5
_WORD = re.compile(r"[\w'’-]+")


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def word_budget(seconds: float) -> int:
    """The most words that fit in ``seconds`` of narration."""
    return max(1, math.floor(seconds * WORDS_PER_SECOND + 1e-9))


def speech_seconds(text: str) -> float:
    """How long ``text`` takes to say at the narration rate."""
    return word_count(text) / WORDS_PER_SECOND


def fit_words(text: str, budget: int) -> str:
    """``text`` if it fits ``budget`` words, else its longest run of whole sentences that does,
    else its first ``budget`` whole words with a full stop. Never cuts inside a word."""
    text = " ".join(text.split())
    if word_count(text) <= budget:
        return text
    kept = ""
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        trial = f"{kept} {sentence}".strip()
        if word_count(trial) > budget:
            break
        kept = trial
    if kept:
        return kept
    words = text.split()
    out: list[str] = []
    for w in words:
        if word_count(" ".join([*out, w])) > budget:
            break
        out.append(w)
    return " ".join(out).rstrip(",;:—-") + "."


@dataclass(frozen=True)
class NarrationIssue:
    index: int  # 1-based segment
    words: int
    budget: int
    seconds: int

    def __str__(self) -> str:
        return (
            f"segment {self.index}: narration has {self.words} words, {self.seconds} s fit about {self.budget} "
            f"(~{WORDS_PER_SECOND:g} words/s); shorten it or lengthen the segment"
        )


def check_plan(plan: Plan) -> list[NarrationIssue]:
    """Segments whose narration is longer than the segment can carry."""
    issues = []
    for i, seg in enumerate(plan.segments, 1):
        words = word_count(seg.narration)
        budget = word_budget(seg.seconds)
        if words > budget:
            issues.append(NarrationIssue(i, words, budget, seg.seconds))
    return issues
