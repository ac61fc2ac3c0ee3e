"""A deliberately small obscenity check for ``is obscene`` / ``is not obscene``.

LeadConduit's word list is private, so this is approximate by design: a short list of
common English profanity matched as whole words (and simple plurals / -ing / -er forms)
after case folding. It catches the junk that fills a "first name" field; it is not a
content-moderation system. Extend ``WORDS`` if your sources need more.
"""

from __future__ import annotations

import re

WORDS: frozenset[str] = frozenset(
    {
        "arse",
        "arsehole",
        "ass",
        "asshole",
        "bastard",
        "bitch",
        "bollocks",
        "bullshit",
        "cock",
        "crap",
        "cunt",
        "damn",
        "dickhead",
        "douche",
        "douchebag",
        "fag",
        "faggot",
        "fuck",
        "fucker",
        "fucking",
        "goddamn",
        "jackass",
        "motherfucker",
        "nigger",
        "piss",
        "prick",
        "pussy",
        "shit",
        "shithead",
        "slut",
        "twat",
        "wanker",
        "whore",
    }
)

_WORD = re.compile(r"[a-z]+")
_SUFFIXES = ("s", "es", "ing", "er", "ers", "ed")


def _obscene_word(word: str) -> bool:
    if word in WORDS:
        return True
    return any(word.endswith(sfx) and word[: -len(sfx)] in WORDS for sfx in _SUFFIXES)


def is_obscene(text: str) -> bool:
    """Whether any whole word of ``text`` is on the list (case-insensitive)."""
    lowered = text.casefold()
    if " " not in lowered and _obscene_word(lowered):
        return True
    return any(_obscene_word(w) for w in _WORD.findall(lowered))
