"""Which servers a replay publishes to over a plain socket, and which it leaves to nats-py."""

from __future__ import annotations

from bus.plain_publisher import PlainServer, plain_server


def test_a_plain_nats_url_is_spoken_with_its_credentials() -> None:
    assert plain_server("nats://10.0.0.5:4333", user="u", password="p") == PlainServer(
        "10.0.0.5", 4333, "u", "p", None
    )
    assert plain_server("127.0.0.1", token="t") == PlainServer("127.0.0.1", 4222, None, None, "t")


def test_credentials_in_the_url_win_as_nats_py_reads_them() -> None:
    assert plain_server("nats://alice:secret@h:1", user="u", password="p") == PlainServer(
        "h", 1, "alice", "secret", None
    )
    assert plain_server("nats://tok@h:1") == PlainServer("h", 1, None, None, "tok")


def test_tls_websockets_several_servers_and_credential_files_go_to_nats_py() -> None:
    assert plain_server("tls://h:4222") is None
    assert plain_server("ws://h:8080") is None
    assert plain_server("nats://a:4222,nats://b:4222") is None
    assert plain_server("nats://h:4222", needs_nats_py=True) is None
