"""Search tokens for BM25: stemmed English words and jieba-segmented Chinese words."""

from __future__ import annotations

import logging
import re
from functools import lru_cache

_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[0-9a-z]+(?:'[a-z]+)?|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")

# Function words carry no topic; dropping them keeps postings short and scores focused.
ENGLISH_STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between
    both but by can could did do does doing don down during each few for from further had has have having he her
    here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now
    of off on once only or other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up very was we were what
    when where which while who whom why will with would you your yours yourself yourselves um uh yeah okay oh mm
    hmm yes so like""".split()
)
CHINESE_STOPWORDS = frozenset("的 了 是 在 和 与 及 或 也 都 就 而 之 其 这 那 有 为 以 于 上 中 下 个 吗 呢 吧 啊 什么 哪些 哪个 多少 怎么 如何 为什么".split())


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


def tokenize(text: str) -> list[str]:
    """Lower-cased, stop-word-free, stemmed English tokens; Chinese runs split into words by jieba."""
    english: list[str] = []
    out: list[str] = []
    for match in _WORD.finditer(text.lower()):
        token = match.group(0)
        if _CJK_RUN.fullmatch(token):
            # Search-mode segmentation also emits the sub-words of long words, so
            # a question's short word matches a passage's compound and back.
            out.extend(w for w in _jieba().lcut_for_search(token) if w not in CHINESE_STOPWORDS)
        elif token not in ENGLISH_STOPWORDS:
            english.append(token.replace("'", ""))
    if english:
        out.extend(_stemmer().stemWords(english))
    return out
