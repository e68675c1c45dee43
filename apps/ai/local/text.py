"""Language tools for the offline provider: tokenising, stop words (French and English), sentence splitting."""

from __future__ import annotations

import re
import unicodedata

WORD_RE = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*|\d+", re.UNICODE)
SENTENCE_RE = re.compile(r"(?<=[.!?…])\s+|\n+")

STOPWORDS_FR = frozenset(
    """
    a à ai aie aient aies ait alors as au aucun aucune aujourd aussi autre aux avais avait avant avec avez aviez avoir
    avons bah beaucoup bien bon bonjour bonsoir c ça ce ceci cela celle celles celui ces cet cette ceux chez ci comme
    comment d dans de des deja déjà depuis dois doit donc dont du elle elles en encore est et été êtes étais était
    être eu eux fait faire fais faut fois hier ici il ils j je jamais juste l la le les leur leurs lui m ma mais me
    même mes merci mien moi mon n ne ni non nos notre nous on ont ou où oui par parce pas peu peut peux plus pour
    pourquoi pouvez pu puis qu quand que quel quelle quelles quels qui quoi s sa sans se ses si sien son sont sous
    suis sur t ta te tes toi ton toujours tous tout toute toutes très tu un une unes uns vais vers veux voici voilà
    vos votre vous vu y salut svp stp cordialement madame monsieur bonne journée soirée rien tres trop
    aujourdhui après apres autres car certains certaines chaque contre entre etre etait ete jusqu lorsqu lorsque
    malgré maintenant mme mr plusieurs puisque quelque quelques selon serait sera seront sommes tant tel telle tels
    telles vraiment bjr slt
    """.split()
)
STOPWORDS_EN = frozenset(
    """
    a about above after again against all am an and any are aren as at be because been before being below between
    both but by can cannot could did didn do does doesn doing don down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is isn it its itself just let me more most my
    myself no nor not now of off on once only or other ought our ours ourselves out over own same she should so some
    such than that the their theirs them themselves then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your yours yourself yourselves
    hello hi hey thanks thank please ok okay yes sorry dear regards get got im ive cant wont
    also already although always among anyone anything arent couldnt didnt doesnt dont either etc even ever every
    everyone everything hadnt hasnt havent isnt many may might much must neither never nothing onto per pls plz
    really shall shouldnt since someone something still thats theres theyre though thx unless upon us via wasnt
    werent whats whether whose within without wouldnt yeah yet youre another others
    """.split()
)
STOPWORDS = STOPWORDS_FR | STOPWORDS_EN

_FR_MARKERS = frozenset("le la les des est je vous nous pas une pour avec mon ma mes sur dans bonjour merci".split())
_EN_MARKERS = frozenset("the is are you i my not with for and this that have hello thanks please".split())


def words(text: str) -> list[str]:
    """Lower-case word tokens (letters or digits), apostrophe-joined forms kept whole."""
    return [w.lower() for w in WORD_RE.findall(text)]


def strip_accents(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def content_words(text: str) -> list[str]:
    """Words that carry meaning: no stop words, no 1-letter tokens, elided articles removed (l'app -> app)."""
    out = []
    for w in words(text):
        w = re.sub(r"^(?:[ldjmnstc]|qu)['’]", "", w)
        if len(w) > 1 and w not in STOPWORDS and not w.isdigit():
            out.append(w)
    return out


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_RE.split(text) if s and s.strip()]


def detect_language(text: str) -> str:
    """'fr' or 'en' by stop-word evidence; French when undecided (the product's default audience)."""
    tokens = words(text)
    fr = sum(t in _FR_MARKERS for t in tokens) + sum(any(c in t for c in "éèêàçù") for t in tokens)
    en = sum(t in _EN_MARKERS for t in tokens)
    return "en" if en > fr else "fr"
