"""Client address behind trusted proxies, the allow-list, and the rejection throttle."""

from __future__ import annotations

from ipaddress import ip_network

from yquant.entrypoints.sources import AddressSet, SourceThrottle, client_address

PROXY = [ip_network("10.0.0.0/24")]


def test_peer_is_the_client_without_a_trusted_proxy() -> None:
    assert client_address("198.51.100.1", "52.89.214.238", PROXY) == "198.51.100.1"
    assert client_address("127.0.0.1", "52.89.214.238", []) == "127.0.0.1"


def test_rightmost_untrusted_hop_is_the_client_behind_the_proxy() -> None:
    assert client_address("10.0.0.5", "52.89.214.238", PROXY) == "52.89.214.238"
    assert client_address("10.0.0.5", "1.1.1.1, 52.89.214.238, 10.0.0.7", PROXY) == (
        "52.89.214.238"
    )
    assert client_address("10.0.0.5", "garbage", PROXY) == "invalid"
    assert client_address("10.0.0.5", None, PROXY) == "10.0.0.5"


def test_allow_list_has_no_loopback_exemption() -> None:
    tv = AddressSet([ip_network("52.89.214.238/32"), ip_network("34.212.75.0/30")])
    for _ in range(2):  # the second round answers from memory: the same answers
        assert "52.89.214.238" in tv
        assert "34.212.75.3" in tv
        assert "34.212.75.4" not in tv
        assert "127.0.0.1" not in tv
        assert "not-an-ip" not in tv


def test_address_memory_is_bounded() -> None:
    tv = AddressSet([ip_network("52.89.214.238/32")])
    for i in range(AddressSet.MEMO_SIZE * 2 + 1):
        assert f"10.{i // 65536}.{i // 256 % 256}.{i % 256}" not in tv
    assert len(tv._memo) <= AddressSet.MEMO_SIZE  # noqa: SLF001 - the bound is the behaviour
    assert "52.89.214.238" in tv


def test_throttled_requests_without_a_row_are_counted_per_source_until_taken() -> None:
    t = SourceThrottle(3)
    for source in ("a", "b", "a"):
        t.unlogged(source)
    assert t.take_unlogged() == {"a": 2, "b": 1}
    assert t.take_unlogged() == {}


def test_throttle_counts_per_source_in_a_sliding_minute() -> None:
    now = [1000.0]
    t = SourceThrottle(3, now=lambda: now[0])
    for _ in range(3):
        t.record("a")
    assert t.throttled("a") and not t.throttled("b")
    assert t.throttled_sources() == 1
    now[0] += 61
    assert not t.throttled("a")
    assert t.throttled_sources() == 0
