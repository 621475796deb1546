"""Reciprocal-rank fusion of the vector and keyword rankings."""

from __future__ import annotations

from typing import NamedTuple

from memory.types import MatchSource
from memory.vectors import VectorHit

RRF_K = 60  # the usual constant: damps the difference between the first few ranks


def candidates(k: int) -> int:
    """How many results to ask each ranking for, to fuse into the top ``k``."""
    return min(max(3 * k, 10), 100)


class Fused(NamedTuple):
    id: str
    score: float
    matched_by: list[MatchSource]


def fuse(rankings: dict[MatchSource, list[str]], k: int) -> list[Fused]:
    """The top ``k`` ids by Σ 1/(RRF_K + rank) over the rankings that contain them.

    Scores are divided by the best possible sum, so 1.0 means "ranked first by every source".
    """
    scores: dict[str, float] = {}
    sources: dict[str, list[MatchSource]] = {}
    for source, ids in rankings.items():
        for rank, item in enumerate(dict.fromkeys(ids), start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (RRF_K + rank)
            sources.setdefault(item, []).append(source)
    best = len(rankings) / (RRF_K + 1) or 1.0
    ranked = sorted(scores, key=lambda item: scores[item], reverse=True)[:k]
    return [Fused(item, scores[item] / best, sources[item]) for item in ranked]


def fuse_hybrid(vector_hits: list[VectorHit], keyword_ids: list[str], k: int, min_similarity: float) -> list[Fused]:
    """Fuse the vector hits at or above ``min_similarity`` (the rest are noise) with the keyword matches."""
    close = [hit.id for hit in vector_hits if hit.similarity >= min_similarity]
    return fuse({"vector": close, "keyword": keyword_ids}, k)
