"""The publish/subscribe table behind `nats-config` and the AsyncAPI document agrees with itself:
every type an actor subscribes to is published by someone, on a subject that covers it."""

from __future__ import annotations

from actors.wiring import participants
from bus.subjects import Subjects


def _covers(pattern: str, subject: str) -> bool:
    tokens, wanted = pattern.split("."), subject.split(".")
    for index, token in enumerate(tokens):
        if token == ">":
            return len(wanted) > index
        if index >= len(wanted) or token not in ("*", wanted[index]):
            return False
    return len(tokens) == len(wanted)


def test_every_subscribed_type_has_a_publisher_on_a_matching_subject() -> None:
    everyone = participants(Subjects("gf"))
    published = [
        (publication.subject, carried)
        for participant in everyone
        for publication in participant.publishes
        if publication.kind != "reply"
        for carried in publication.carries
    ]
    missing = [
        (participant.name, subscription.subject, accepted.__name__)
        for participant in everyone
        for subscription in participant.subscribes
        for accepted in subscription.accepts
        if not any(
            carried is accepted
            and (_covers(subscription.subject, subject) or _covers(subject, subscription.subject))
            for subject, carried in published
        )
    ]
    assert missing == []
