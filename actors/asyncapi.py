"""The bus as an AsyncAPI 3.0 document, generated from ``schemas/``, ``bus/subjects.py`` and who
publishes and subscribes what (:mod:`actors.wiring`, each actor's ``subscriptions()``)."""

from __future__ import annotations

import re
from typing import Any, get_args

import msgspec

from actors.wiring import Participant, Publication
from bus.actor import Subscription
from bus.subjects import Subjects
from schemas import AnyMessage, Message

__all__ = ["ASYNCAPI_VERSION", "CONTENT_TYPE", "asyncapi_document", "message_schemas"]

ASYNCAPI_VERSION = "3.0.0"
CONTENT_TYPE = "application/msgpack"
_SCHEMA_REF = "#/components/schemas/{name}"
_UNSAFE_KEY = re.compile(r"[^A-Za-z0-9._-]")


def message_schemas() -> dict[str, Any]:
    """JSON Schema of every bus message (msgspec's), keyed by type name."""
    _, components = msgspec.json.schema_components(get_args(AnyMessage), ref_template=_SCHEMA_REF)
    return components


def _channel_key(subject: str) -> str:
    return _UNSAFE_KEY.sub("_", subject.replace(".*", ".any").replace(".>", ".all"))


def _address(subject: str) -> tuple[str, dict[str, Any]]:
    """NATS wildcards become AsyncAPI address parameters: ``gf.md.price.*`` → ``{token3}``."""
    tokens, parameters = [], {}
    for index, token in enumerate(subject.split(".")):
        if token == "*":
            name = f"token{index}"
            parameters[name] = {"description": f"any one token at position {index}"}
            tokens.append(f"{{{name}}}")
        elif token == ">":
            parameters["rest"] = {"description": "one or more tokens"}
            tokens.append("{rest}")
        else:
            tokens.append(token)
    return ".".join(tokens), parameters


def _message_ref(message_type: type[Message]) -> dict[str, str]:
    return {"$ref": f"#/components/messages/{message_type.__name__}"}


def _channel_message_ref(channel: str, message_type: type[Message]) -> dict[str, str]:
    return {"$ref": f"#/channels/{channel}/messages/{message_type.__name__}"}


class _Builder:
    def __init__(self) -> None:
        self.channels: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.used: set[type[Message]] = set()

    def channel(self, subject: str, types: tuple[type[Message], ...]) -> str:
        key = _channel_key(subject)
        if key not in self.channels:
            address, parameters = _address(subject)
            self.channels[key] = {"address": address, "messages": {}}
            if parameters:
                self.channels[key]["parameters"] = parameters
        for message_type in types:
            self.channels[key]["messages"][message_type.__name__] = _message_ref(message_type)
            self.used.add(message_type)
        return key

    def operation(
        self,
        participant: str,
        action: str,
        channel: str,
        types: tuple[type[Message], ...],
        *,
        summary: str,
        reply: tuple[type[Message], ...] = (),
    ) -> None:
        key = f"{participant}.{action}.{channel}"
        operation: dict[str, Any] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": summary,
            "messages": [_channel_message_ref(channel, t) for t in types],
            "x-participant": participant,
        }
        if reply:
            operation["reply"] = {
                "channel": {"$ref": f"#/channels/{channel}"},
                "messages": [_channel_message_ref(channel, t) for t in reply],
            }
        self.operations[key] = operation


def _publish(builder: _Builder, who: str, publication: Publication) -> None:
    channel = builder.channel(publication.subject, publication.carries)
    if publication.kind == "reply":
        return  # described as the reply of the responder's receive operation
    action_word = "requests" if publication.kind == "request" else "publishes"
    builder.operation(
        who,
        "send",
        channel,
        publication.carries,
        summary=f"{who} {action_word} {', '.join(t.__name__ for t in publication.carries)}",
    )


def _subscribe(
    builder: _Builder, who: str, subscription: Subscription, replies: dict[str, Publication]
) -> None:
    channel = builder.channel(subscription.subject, subscription.accepts)
    how = "a durable JetStream consumer" if subscription.consumer else "core NATS"
    if subscription.queue:
        how += f", queue group {subscription.queue}"
    reply = replies.get(subscription.subject)
    if reply is not None:
        builder.channel(subscription.subject, reply.carries)
    builder.operation(
        who,
        "receive",
        channel,
        subscription.accepts,
        summary=f"{who} receives {', '.join(t.__name__ for t in subscription.accepts)} ({how})",
        reply=reply.carries if reply is not None else (),
    )


def asyncapi_document(
    participants: tuple[Participant, ...], subjects: Subjects, *, version: str = "0.1.0"
) -> dict[str, Any]:
    builder = _Builder()
    for participant in participants:
        replies = {p.subject: p for p in participant.publishes if p.kind == "reply"}
        for publication in participant.publishes:
            _publish(builder, participant.name, publication)
        for subscription in participant.subscribes:
            _subscribe(builder, participant.name, subscription, replies)
    schemas = message_schemas()
    messages = {
        t.__name__: {
            "name": t.__name__,
            "title": t.__name__,
            "summary": (t.__doc__ or t.__name__).strip().splitlines()[0],
            "contentType": CONTENT_TYPE,
            "payload": {"$ref": _SCHEMA_REF.format(name=t.__name__)},
        }
        for t in sorted(builder.used, key=lambda t: t.__name__)
    }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Gal Friday bus",
            "version": version,
            "description": (
                f"NATS subjects under the root {subjects.root!r}. Payloads are msgpack-encoded "
                "msgspec Structs, tagged by their `type` field; Decimals travel as strings, "
                "timestamps as integer nanoseconds."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "local": {
                "host": "127.0.0.1:4222",
                "protocol": "nats",
                "description": "`galfriday up` (nats.url)",
            }
        },
        "channels": builder.channels,
        "operations": builder.operations,
        "components": {"messages": messages, "schemas": schemas},
    }
