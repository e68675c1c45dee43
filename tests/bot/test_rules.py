"""The escalation rules and the smart-reply matching on their own (no knowledge base), with property tests for
odd text."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.bot.models import SmartReply
from apps.bot.rules import escalation_for, guess_category, language_of, negative_sentiment, normalise
from apps.bot.selectors import rule_matches, smart_reply_match


def _escalation(text: str) -> str | None:
    rule = escalation_for(text, negative_threshold=3, urgent_threshold=5)
    return rule.reason if rule else None


@given(st.text(max_size=3000))
@settings(max_examples=300, deadline=None)
def test_rules_never_raise_and_normalise_is_idempotent(text: str) -> None:
    norm = normalise(text)
    assert normalise(norm) == norm
    _escalation(text)
    assert negative_sentiment(text).score >= 0
    assert language_of(text) in ("fr", "en")
    assert guess_category(text)


@given(st.sampled_from(["je veux résilier", "I want to cancel my subscription", "je veux parler à un humain"]),
       st.text(alphabet=st.characters(blacklist_categories=("L", "N")), max_size=50))  # fmt: skip
@settings(max_examples=100, deadline=None)
def test_punctuation_and_emoji_around_a_request_do_not_hide_it(request_text: str, noise: str) -> None:
    assert _escalation(f"{noise} {request_text} {noise}") is not None


def test_accents_and_case_do_not_matter() -> None:
    assert _escalation("JE VEUX RESILIER") == "cancellation"
    assert _escalation("je veux résilier") == "cancellation"
    assert _escalation("Je Veux Parler À Un Humain") == "human_request"


def test_sentiment_intensity() -> None:
    calm = negative_sentiment("c'est inadmissible")
    loud = negative_sentiment("C'EST INADMISSIBLE !!!")
    assert calm.lexicon == loud.lexicon and loud.intensity > calm.intensity
    assert negative_sentiment("Bonjour, une question sur ma facture").score == 0
    assert negative_sentiment("merci 😡😡").intensity == 2


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("talk to a human", "en"),
        ("where is my parcel", "en"),
        ("je veux un conseiller", "fr"),
        ("où est mon colis", "fr"),
        ("résilier", "fr"),
    ],
)
def test_language_of_short_messages(text: str, language: str) -> None:
    assert language_of(text) == language


def test_language_of_an_undecided_message_follows_the_earlier_ones() -> None:
    assert language_of("👍", ["I have a question about my bill"]) == "en"
    assert language_of("👍", ["j'ai une question sur ma facture"]) == "fr"


def test_seeded_rules_exist_in_both_languages(db: Any) -> None:
    languages = set(SmartReply.objects.filter(active=True).values_list("language", flat=True))
    assert {"fr", "en"} <= languages
    assert SmartReply.objects.filter(name__in=["Salutation", "Greeting", "Remerciements", "Thanks"]).count() == 4


def test_keyword_rule_with_wildcard_and_whole_message(db: Any) -> None:
    rule = SmartReply(name="t", match_type="keywords", patterns="parrain*\ncode promo", whole_message=False, answer="a")
    assert rule_matches(rule, "Comment fonctionne le PARRAINAGE ?") == "parrain*"
    assert rule_matches(rule, "un code de promo ?") == "code promo"  # every word of the line, any order
    assert rule_matches(rule, "une promo") is None  # not every word
    rule.whole_message = True
    assert rule_matches(rule, "parrainage") == "parrain*"
    assert rule_matches(rule, "parrainage de ma soeur pour la box") is None


def test_an_invalid_regex_saved_in_the_database_is_ignored(db: Any) -> None:
    SmartReply.objects.create(
        name="broken", match_type="regex", patterns="(unclosed\nbonjour", answer="x", priority=999
    )
    match = smart_reply_match("bonjour")
    assert match is not None and match.rule.name == "broken"  # its valid line still works
    SmartReply.objects.filter(name="broken").update(patterns="(unclosed")
    match = smart_reply_match("bonjour")
    assert match is not None and match.rule.name == "Salutation"


def test_invalid_regex_is_refused_by_validation() -> None:
    from django.core.exceptions import ValidationError

    rule = SmartReply(name="x", match_type="regex", patterns="(unclosed", answer="x")
    with pytest.raises(ValidationError):
        rule.clean()


def test_priority_and_activity(db: Any) -> None:
    SmartReply.objects.create(
        name="promo", patterns="bonjour", answer="Promo du jour !", priority=999, whole_message=True
    )
    assert smart_reply_match("bonjour").rule.name == "promo"  # type: ignore[union-attr]
    SmartReply.objects.filter(name="promo").update(active=False)
    assert smart_reply_match("bonjour").rule.name == "Salutation"  # type: ignore[union-attr]
    SmartReply.objects.filter(name="Salutation").update(active=False)
    assert smart_reply_match("bonjour") is None


@given(st.text(max_size=500))
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_smart_reply_matching_never_raises(db: Any, text: str) -> None:
    smart_reply_match(text)
