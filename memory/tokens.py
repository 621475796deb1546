"""Text to terms, shared by the keyword indexes and the offline embedder.

Chinese has no spaces, and the words that matter in this domain are mostly two characters
(过敏, 预算, 油皮, 水光): a CJK run is indexed as its character bigrams plus its unigrams, Latin
and digit runs as lowercase words. Queries use bigrams only (a one-character run as its unigram),
so a two-character query matches exactly the documents containing that word, a longer query
ranks documents by how many of its bigrams they share, and a single character still finds something.
"""

from __future__ import annotations

import re
import unicodedata

# CJK ideographs (incl. extension A and compatibility), kana and hangul: scripts written without spaces.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_RUNS = re.compile(rf"([{_CJK}]+)|([^\W_{_CJK}]+)")


def _runs(text: str) -> list[tuple[str, bool]]:
    """(run, is_cjk) pairs of the NFKC-normalised, lowercased text; punctuation and spaces dropped."""
    text = unicodedata.normalize("NFKC", text).lower()
    return [(match.group(), match.group(1) is not None) for match in _RUNS.finditer(text)]


def index_terms(text: str) -> list[str]:
    """Every term a document is findable by: CJK unigrams and bigrams, Latin/digit words (with repeats)."""
    terms: list[str] = []
    for run, cjk in _runs(text):
        if cjk:
            terms.extend(run)
            terms.extend(run[i : i + 2] for i in range(len(run) - 1))
        else:
            terms.append(run)
    return terms


def query_terms(text: str) -> list[str]:
    """The distinct terms a query matches on: CJK bigrams (a lone character as itself), Latin/digit words."""
    terms: dict[str, None] = {}
    for run, cjk in _runs(text):
        if cjk and len(run) > 1:
            terms.update((run[i : i + 2], None) for i in range(len(run) - 1))
        else:
            terms[run] = None
    return list(terms)
