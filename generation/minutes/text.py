"""Tokens and keywords for English and Chinese turns (jieba for Chinese words)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

import numpy as np

# Spoken-language filler that TF-IDF would otherwise pick as a topic word.
_FILLER = {
    "yeah", "okay", "ok", "um", "uh", "mm", "hmm", "like", "just", "know", "think", "really", "actually", "right",
    "gonna", "wanna", "sort", "kind", "thing", "things", "mean", "stuff", "lot", "going", "yes", "don", "didn", "ll",
    "ve", "re", "got", "bit", "said", "say", "sure", "maybe", "probably", "guess", "want", "need", "way", "good",
    "does", "did", "doing", "make", "let", "look", "little", "pretty", "vocalsound", "disfmarker", "gap", "laugh",
    "nonvocalsound", "pause", "cough", "inaudible", "thank", "thanks", "mhm", "huh", "oh", "ah", "alright", "basically",
}


@cache
def stop_words() -> frozenset[str]:
    # scikit-learn takes about a second to import: only building minutes pays for it, not every command.
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS | _FILLER)


_ZH_STOP = frozenset("的 了 是 我 你 他 她 我们 你们 他们 这 那 这个 那个 就 也 都 在 和 有 要 会 说 吧 吗 呢 啊 嗯 一下 一个 还 对 没有 可以 然后 所以 如果 但是 因为 什么 怎么".split())
_CJK = re.compile(r"[\u4e00-\u9fff]")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'-]+|\d+")


def tokens(text: str, language: str) -> list[str]:
    """Lower-cased content words: jieba words for Chinese, letters/digits for everything else."""
    if language == "zh" or _CJK.search(text):
        import jieba

        words = [w.strip().lower() for w in jieba.lcut(text)]
        return [w for w in words if w and w not in _ZH_STOP and (_CJK.search(w) or _WORD.fullmatch(w)) and w.lower() not in stop_words()]
    return [w for w in (m.group().lower() for m in _WORD.finditer(text)) if w not in stop_words() and len(w) > 2]


def segment_keywords(segments: Sequence[str], language: str, k: int = 3) -> list[list[str]]:
    """The ``k`` words that set each segment apart from the others (TF-IDF with segments as documents)."""
    if not segments:
        return []
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer=lambda text: tokens(text, language), sublinear_tf=True)
    try:
        matrix = vectorizer.fit_transform(segments)
    except ValueError:  # nothing but stop words
        return [[] for _ in segments]
    vocabulary = np.array(vectorizer.get_feature_names_out())
    keywords = []
    for row in matrix:
        dense = row.toarray().ravel()
        order = np.argsort(-dense)[:k]
        keywords.append([str(vocabulary[i]) for i in order if dense[i] > 0])
    return keywords
