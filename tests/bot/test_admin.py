"""The supervisors' screens: smart replies in the admin and the tester."""

from __future__ import annotations

from typing import Any

from django.test import Client

from apps.bot.models import SmartReply


def test_tester_shows_the_matching_rule_and_the_bot_decision(client: Client, supervisor_user: Any) -> None:
    client.force_login(supervisor_user)
    response = client.post("/admin/bot/smartreply/tester/", {"message": "Bonjour !"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Salutation" in body and '<td id="bot-kind">smart</td>' in body

    response = client.post("/admin/bot/smartreply/tester/", {"message": "je veux résilier mon forfait"})
    body = response.content.decode()
    assert '<td id="bot-kind">escalation</td>' in body and "cancellation" in body and "HIGH" in body
    assert "No smart reply matches." in body


def test_tester_lists_inactive_rules_too(client: Client, supervisor_user: Any) -> None:
    SmartReply.objects.filter(name="Salutation").update(active=False)
    client.force_login(supervisor_user)
    body = client.post("/admin/bot/smartreply/tester/", {"message": "bonjour"}).content.decode()
    assert "Salutation" in body and '<td id="bot-kind">smart</td>' not in body


def test_supervisor_adds_a_rule_in_the_admin_and_the_bot_uses_it(client: Client, supervisor_user: Any) -> None:
    from apps.bot.services import bot_respond

    client.force_login(supervisor_user)
    response = client.post(
        "/admin/bot/smartreply/add/",
        {
            "name": "Parrainage",
            "active": "on",
            "priority": 300,
            "language": "fr",
            "match_type": "keywords",
            "patterns": "parrain*",
            "answer": "Parrainez un proche depuis « Mon profil » : 20 € chacun.",
            "source_title": "FAQ",
            "url": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    reply = bot_respond(conversation=None, text="comment marche le parrainage ?")
    assert (reply.kind, reply.text, reply.sources) == (
        "smart",
        "Parrainez un proche depuis « Mon profil » : 20 € chacun.",
        [{"title": "FAQ", "url": ""}],
    )


def test_admin_refuses_an_invalid_regex(client: Client, supervisor_user: Any) -> None:
    client.force_login(supervisor_user)
    response = client.post(
        "/admin/bot/smartreply/add/",
        {"name": "Bad", "priority": 1, "language": "any", "match_type": "regex", "patterns": "(oops", "answer": "x"},
    )
    assert response.status_code == 200 and "Invalid regular expression" in response.content.decode()
    assert not SmartReply.objects.filter(name="Bad").exists()


def test_agents_cannot_reach_the_tester(client: Client, agent_user: Any) -> None:
    client.force_login(agent_user)
    response = client.post("/admin/bot/smartreply/tester/", {"message": "bonjour"})
    assert response.status_code == 302  # to the admin login


def test_changelist_and_change_form_render(client: Client, supervisor_user: Any) -> None:
    client.force_login(supervisor_user)
    body = client.get("/admin/bot/smartreply/").content.decode()
    assert "/admin/bot/smartreply/tester/" in body and "Salutation" in body and "Opening hours" in body
    rule = SmartReply.objects.get(name="Opening hours")
    assert client.get(f"/admin/bot/smartreply/{rule.pk}/change/").status_code == 200
    assert client.get("/admin/bot/smartreply/tester/").status_code == 200
