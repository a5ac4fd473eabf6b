"""Language detection shared by every layer.

Two questions get two answers: ``detect_language`` names a document's language with
langid (stored as metadata, used to pick an extractor); ``script_language`` only asks
whether a short string such as a question is written in Chinese, which is what picks
prompt templates and tokenisers and must not flip on a stray foreign word.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

LANGUAGES = ("en", "zh", "de", "fr", "es", "it", "pt", "nl", "sv", "da", "no", "fi", "pl", "ru", "ja", "ko")
SAMPLE_CHARS = 4000
_lock = threading.Lock()  # langid's identifier keeps per-call state in numpy buffers
IDEOGRAPH = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LETTER = re.compile(r"[A-Za-z]")


@lru_cache(maxsize=1)
def _identifier():
    from langid.langid import LanguageIdentifier, model

    identifier = LanguageIdentifier.from_modelstring(model, norm_probs=True)
    identifier.set_languages(list(LANGUAGES))
    return identifier


def detect_language(text: str, default: str = "en") -> str:
    """ISO 639-1 code of ``text``'s main language; ``default`` when there is too little text to tell.

    Restricting langid to the languages Lore expects keeps short or jargon-heavy company
    texts from being labelled as a rare language; the sample is bounded so big files cost
    no more than small ones.
    """
    sample = text[:SAMPLE_CHARS]
    if sum(ch.isalpha() for ch in sample) < 3:
        return default
    with _lock:
        language, _ = _identifier().classify(sample)
    return language


def count_ideographs(text: str) -> int:
    """Chinese (and Japanese kanji) characters in ``text``."""
    return len(IDEOGRAPH.findall(text))


def script_language(text: str) -> str:
    """'zh' when Chinese characters make up a good part of the letters, else 'en'.

    Mixed questions ("Who owns 项目?") are common in Chinese companies; counting
    ideographs against Latin letters keeps a stray name from switching language.
    """
    han = count_ideographs(text)
    latin = len(_LETTER.findall(text))
    return "zh" if han and han >= 0.3 * (han + latin) else "en"
