"""`galfriday schema --asyncapi` (issue 13.15): an AsyncAPI 3.0 document that covers every bus
message type and every subject, with who publishes and who subscribes."""

from __future__ import annotations

import re
from typing import Any, get_args

import orjson
import pytest

from actors.cli.main import main
from bus.jetstream import stream_specs
from bus.subjects import Subjects
from schemas import AnyMessage


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as patch:
        captured: list[str] = []
        patch.setattr("sys.stdout.write", captured.append)
        assert main(["schema", "--asyncapi", "--json"]) == 0
    return orjson.loads("".join(captured))  # type: ignore[no-any-return]


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def test_has_the_fields_asyncapi_3_requires(document: dict[str, Any]) -> None:
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"]
    assert document["info"]["version"]
    for section in ("channels", "operations", "components"):
        assert document[section], section
    key = re.compile(r"^[A-Za-z0-9_.\-]+$")
    assert all(key.match(k) for k in document["channels"])
    assert all(key.match(k) for k in document["operations"])


def test_every_message_type_has_a_payload_schema_and_a_channel(document: dict[str, Any]) -> None:
    messages = document["components"]["messages"]
    in_channels = {name for c in document["channels"].values() for name in c["messages"]}
    for message_type in get_args(AnyMessage):
        name = message_type.__name__
        assert name in messages, name
        assert name in in_channels, name
        schema = _resolve(document, messages[name]["payload"]["$ref"])
        tag = message_type.__struct_config__.tag
        assert schema["properties"]["type"]["enum"] == [tag], name


def _within(address: str, pattern: str) -> bool:
    """``address`` is ``pattern`` or one of the subjects it matches."""
    tokens, wanted = pattern.split("."), address.split(".")
    if tokens[-1] == ">":
        return wanted[: len(tokens) - 1] == tokens[:-1] or address == pattern
    return len(tokens) == len(wanted) and all(
        t in ("*", w) for t, w in zip(tokens, wanted, strict=True)
    )


def test_every_stored_subject_is_a_channel(document: dict[str, Any]) -> None:
    addresses = {
        re.sub(r"\{token\d+\}", "*", c["address"]).replace("{rest}", ">")
        for c in document["channels"].values()
    }
    stored = {subject for spec in stream_specs(Subjects("gf")) for subject in spec.subjects}
    # gf.dlq.* is one channel per actor (gf.dlq.market-data, ...)
    assert {s for s in stored if not any(_within(a, s) for a in addresses)} == set()


def test_operations_reference_real_channels_and_messages(document: dict[str, Any]) -> None:
    for key, operation in document["operations"].items():
        assert operation["action"] in ("send", "receive"), key
        channel = _resolve(document, operation["channel"]["$ref"])
        for ref in operation["messages"] + operation.get("reply", {}).get("messages", []):
            assert _resolve(document, ref["$ref"]) in channel["messages"].values(), (key, ref)
        for name in re.findall(r"\{(\w+)\}", channel["address"]):
            assert name in channel["parameters"], (key, name)


def test_says_who_publishes_and_who_subscribes(document: dict[str, Any]) -> None:
    def who(action: str, message: str) -> set[str]:
        return {
            operation["x-participant"]
            for operation in document["operations"].values()
            if operation["action"] == action
            and any(ref["$ref"].endswith("/" + message) for ref in operation["messages"])
        }

    assert who("send", "OrderBatchRequested") == {"galfriday-cli"}
    assert who("receive", "OrderBatchRequested") == {"batch-router"}
    assert who("send", "PriceUpdated") == {"market-data"}
    assert who("receive", "PriceUpdated") == {"batch-router"}
    assert who("receive", "VerdictRequest") == {"error-classifier"}
    verdicts = document["operations"]["error-classifier.receive.gf.errors.verdict"]
    assert verdicts["reply"]["messages"][0]["$ref"].endswith("/RetryVerdict")
