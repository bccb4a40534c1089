"""The guarantee: nothing internal reaches a customer unless typed into `--public`.

An incident is filled with hostile internal detail (a title, description, impact, root
cause, ETA, people, notes and status messages full of secret-like strings, mentions and
HTML), recorded in a real store through the incident flows. Every customer template (the
status page's and customer email's, shipped and as a team would override them) is then
rendered through `customer_text` for every occasion, with and without public words, and
no internal string appears. `customer_data`, the only data customer templates get, has
only the public keys.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers.core.context import Deps
from handlers.core.rendering import SHIPPED_TEMPLATES, Renderer, TemplateError
from services import timeline
from services.comms.customer import (
    TEMPLATE_BY_OCCASION,
    CustomerText,
    customer_data,
    customer_text,
)
from services.comms.news import IncidentNews, Occasion
from services.incidents import lifecycle, records
from services.incidents.model import Incident, Severity, Status
from services.incidents.records import NewIncident
from services.incidents.war_room import WarRoomDeps

pytestmark = pytest.mark.unit

# Each one must never reach a customer. They look like what people paste in a war room.
SECRETS = {
    "title": "Payments down: AKIAIOSFODNN7EXAMPLE leaked in <script>alert(1)</script>",
    "description": "db password hunter2 on db-prod-7.internal <@U0ALICE|alice>",
    "impact": "critical-ACME-CORP-CONTRACT",
    "root_cause": "Bob's bad deploy; token ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "eta": "when <!channel> Carol wakes up",
    "message": "rollback of 10.0.3.7 by @dave <img src=x onerror=alert(1)>",
    "note": "hypothesis: customer Globex hit by sk_live_51Habcdefghijkl",
    "resolution": "restarted kube-node-42 with root:toor",
}
# customer_data's keys: the status, the services, the times, and the public words.
PUBLIC_KEYS = {
    "occasion",
    "status",
    "status_label",
    "public",
    "affected",
    "reference",
    "started_at",
    "resolved_at",
    "at",
    "started_utc",
    "resolved_utc",
}
PUBLIC = "We are investigating failed card payments."


@pytest.fixture
def war_deps(deps: Deps) -> WarRoomDeps:
    """The incident flows with a real store; the incidents here have no war room, so the
    flows record without posting."""
    return deps.war_room


def hostile_incident(deps: WarRoomDeps) -> Incident:
    incident, _ = records.create(
        deps.store,
        clock=deps.clock,
        new=NewIncident(
            title=SECRETS["title"],
            severity=Severity.SEV1,
            impact=SECRETS["impact"],
            description=SECRETS["description"],
            commander="U0CAROL",
            declared_by="U0ALICE",
            origin_channel_id=None,
            next_update_due_at=deps.clock.now(),
            request_key=None,
            services=("payments",),
        ),
    )
    lifecycle.add_note(incident, deps=deps, actor="U0BOB", text=SECRETS["note"], request_key=None)
    return incident


def news_for(deps: WarRoomDeps, incident: Incident, public: str | None) -> list[IncidentNews]:
    """Every occasion, with the timeline event the flows recorded for it."""
    updated = lifecycle.post_update(
        incident,
        deps=deps,
        actor="U0BOB",
        status=Status.IDENTIFIED,
        message=SECRETS["message"],
        eta=SECRETS["eta"],
        broadcast=True,
        public=public,
    )
    resolved = lifecycle.resolve(
        updated.incident,
        deps=deps,
        actor="U0CAROL",
        root_cause=SECRETS["root_cause"],
        action_items=[("rotate the leaked key", "U0BOB")],
        resolution=SECRETS["resolution"],
        public=public,
    )
    by_kind = {e.kind: e for e in timeline.events(deps.store, incident_id=incident.id)}
    news = []
    for occasion in Occasion:
        kind = {"resolved": "resolved", "declared": "declared"}.get(occasion.value, "status_update")
        event = by_kind[kind]
        subject = resolved.incident if occasion is Occasion.RESOLVED else updated.incident
        news.append(
            IncidentNews(
                occasion=occasion,
                incident=subject,
                event=event,
                public=str(event.data.get("public")) if event.data.get("public") else None,
                broadcast=True,
                details={"message": SECRETS["message"], "targets": ["U0BOB"]},
            )
        )
    return news


PEOPLE = ("U0ALICE", "U0BOB", "U0CAROL", "alice", "Carol", "dave", "<@", "<!")
# Any 10 characters in a row of a secret is a leak (a cut or reworded secret still is).
WINDOW = 10


def leaks(text: CustomerText) -> list[str]:
    whole = f"{text.title}\n{text.body}".lower()
    found = [
        secret[i : i + WINDOW]
        for secret in (*SECRETS.values(), "rotate the leaked key")
        for i in range(len(secret) - WINDOW + 1)
        if secret[i : i + WINDOW].lower() in whole
    ]
    return found + [person for person in PEOPLE if person.lower() in whole]


def test_the_leak_check_finds_a_fragment() -> None:
    for key, secret in SECRETS.items():
        for half in (secret[: len(secret) // 2], secret[len(secret) // 2 :]):
            assert leaks(CustomerText("Service disruption", f"We are fine. {half}")), (key, half)


@pytest.mark.parametrize("public", [None, PUBLIC], ids=["no-public", "public"])
def test_no_customer_template_shows_internal_details(
    war_deps: WarRoomDeps, public: str | None
) -> None:
    incident = hostile_incident(war_deps)
    renderer = Renderer()
    seen = set()
    for news in news_for(war_deps, incident, public):
        text = customer_text(news, renderer)
        assert leaks(text) == [], (news.occasion, text)
        assert text.title and text.body
        seen.add(TEMPLATE_BY_OCCASION.get(news.occasion))
        if public and news.event.kind != "declared":
            assert PUBLIC in text.body
        else:
            assert "payments" in text.body  # the affected service, in the default words
    # Every shipped customer template was rendered.
    shipped = {f"comms/{p.name}" for p in (SHIPPED_TEMPLATES / "comms").glob("customer_*.txt.j2")}
    assert shipped - {"comms/customer_title.txt.j2"} <= seen


def test_customer_data_has_only_the_public_keys(war_deps: WarRoomDeps) -> None:
    incident = hostile_incident(war_deps)
    for news in news_for(war_deps, incident, PUBLIC):
        data = customer_data(news)
        assert set(data) == PUBLIC_KEYS
        flat = repr(data)
        assert not [k for k, secret in SECRETS.items() if secret in flat]
        assert not [p for p in PEOPLE if p in flat]


def test_public_words_reach_customers_exactly_as_typed(war_deps: WarRoomDeps) -> None:
    """What a person types for customers is theirs to choose: HTML, RTL and all, untouched
    (each integration escapes for its medium: the email's HTML part autoescapes)."""
    incident = hostile_incident(war_deps)
    typed = "\u200fنحن نحقق <b>payments</b> & more\n\nNext update at 15:00 UTC."
    (updated, *_) = [
        n for n in news_for(war_deps, incident, typed) if n.occasion.value == "updated"
    ]
    assert typed in customer_text(updated, Renderer()).body


@pytest.mark.parametrize(
    "field", ["incident.title", "incident.description", "event.data", "details", "news.public"]
)
def test_an_override_reaching_for_internal_data_fails_loudly(
    war_deps: WarRoomDeps, tmp_path: Path, field: str
) -> None:
    """A team's override can only use customer_data: anything else is undefined, and the
    renderer's strict undefined makes that an error, never a silent internal detail."""
    overrides = tmp_path / "templates" / "comms"
    overrides.mkdir(parents=True)
    (overrides / "customer_update.txt.j2").write_text("{{ " + field + " }}\n")
    renderer = Renderer(override_dir=tmp_path / "templates")
    incident = hostile_incident(war_deps)
    (updated, *_) = [n for n in news_for(war_deps, incident, None) if n.occasion.value == "updated"]
    with pytest.raises(TemplateError):
        customer_text(updated, renderer)


def test_an_override_of_the_customer_words_is_used(war_deps: WarRoomDeps, tmp_path: Path) -> None:
    overrides = tmp_path / "templates" / "comms"
    overrides.mkdir(parents=True)
    (overrides / "customer_initial.txt.j2").write_text(
        "ACME status: {{ status_label }} ({{ affected | join(', ') }}) since {{ started_utc }}\n"
    )
    renderer = Renderer(override_dir=tmp_path / "templates")
    incident = hostile_incident(war_deps)
    (declared, *_) = [
        n for n in news_for(war_deps, incident, None) if n.occasion.value == "declared"
    ]
    body = customer_text(declared, renderer).body
    assert body.startswith("ACME status: Identified (payments) since ")
    assert body.endswith(" UTC")
