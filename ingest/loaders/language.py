"""Per-document language detection with langid, restricted to the languages Lore expects.

Restricting the candidate set keeps short or jargon-heavy company texts from being
labelled as a rare language; the sample is bounded so big files cost no more than small ones.
"""

from __future__ import annotations

import threading
from functools import lru_cache

LANGUAGES = ("en", "zh", "de", "fr", "es", "it", "pt", "nl", "sv", "da", "no", "fi", "pl", "ru", "ja", "ko")
SAMPLE_CHARS = 4000
_lock = threading.Lock()  # langid's identifier keeps per-call state in numpy buffers


@lru_cache(maxsize=1)
def _identifier():
    from langid.langid import LanguageIdentifier, model

    identifier = LanguageIdentifier.from_modelstring(model, norm_probs=True)
    identifier.set_languages(list(LANGUAGES))
    return identifier


def detect_language(text: str, default: str = "en") -> str:
    """ISO 639-1 code of ``text``'s main language; ``default`` when there is too little text to tell."""
    sample = text[:SAMPLE_CHARS]
    if sum(ch.isalpha() for ch in sample) < 3:
        return default
    with _lock:
        language, _ = _identifier().classify(sample)
    return language
