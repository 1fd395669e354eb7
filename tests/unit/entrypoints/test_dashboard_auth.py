"""The dashboard's sign-in pieces that need no server: where a sign-in may lead, the signed
session cookie, the same-origin rule, and the dashboard's words in both languages."""

from __future__ import annotations

import re

import pytest
from starlette.datastructures import Headers

from yquant.entrypoints.dashboard.auth import Auth, Sessions, safe_next
from yquant.entrypoints.dashboard.words import WORDS
from yquant.settings import DashboardSettings


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "//evil.example/x",
        "https://evil.example/",
        "http:/evil.example",
        "/\\evil.example",
        "evil.example",
        "javascript:alert(1)",
        "/orders\r\nSet-Cookie: x=1",
        "/\t/evil.example",
    ],
)
def test_after_sign_in_only_this_dashboards_paths_are_followed(target: str | None) -> None:
    assert safe_next(target) == "/"


@pytest.mark.parametrize("target", ["/", "/orders?status=filled", "/signals/abc%2F1", "/system#x"])
def test_a_path_of_the_dashboard_is_followed(target: str) -> None:
    assert safe_next(target) == target


def test_a_session_cookie_is_read_back_only_as_signed_and_only_until_it_expires() -> None:
    sessions = Sessions(b"k" * 32, lifetime_s=3600)
    cookie = sessions.issue("alice", 3, now=1_000_000)
    name, epoch, nonce = sessions.read(cookie, now=1_000_100) or ("", 0, "")
    assert (name, epoch) == ("alice", 3)
    assert sessions.csrf(nonce) != sessions.csrf(nonce + "x")
    assert sessions.read(cookie, now=1_000_000 + 3600) is None  # expired
    assert sessions.read(cookie, now=999_000) is None  # issued in the future
    payload, mac = cookie.split(".")
    assert sessions.read(f"{payload}x.{mac}", now=1_000_100) is None
    assert sessions.read(f"{payload}.{mac[:-2]}AA", now=1_000_100) is None
    assert Sessions(b"o" * 32, lifetime_s=3600).read(cookie, now=1_000_100) is None
    assert sessions.read(None, now=1_000_100) is None
    assert sessions.read("no-dot", now=1_000_100) is None


def test_a_change_must_come_from_a_page_of_the_host_it_was_sent_to() -> None:
    auth = Auth(DashboardSettings(allowed_hosts=["yq-green"]), Sessions(b"k" * 32, 60), None)  # type: ignore[arg-type]

    def same(**headers: str) -> bool:
        return auth.same_origin(Headers(headers))

    assert same(host="127.0.0.1:2000", origin="http://127.0.0.1:2000")
    assert same(host="yq-green.tail1.ts.net", origin="https://yq-green.tail1.ts.net")
    assert same(host="yq-green:2000", referer="http://yq-green:2000/system")
    assert not same(host="127.0.0.1:2000")  # neither Origin nor Referer
    assert not same(host="127.0.0.1:2000", origin="null")
    assert not same(host="127.0.0.1:2000", origin="https://evil.example")
    assert not same(host="127.0.0.1:2000", origin="http://localhost:2000")  # another host
    # A name the dashboard does not answer to is refused even when Host and Origin agree.
    assert not same(host="evil.example", origin="http://evil.example")


def test_the_dashboards_words_are_in_both_languages() -> None:
    """The same keys in both; every Korean word with letters is Korean (a word that is only
    placeholders, such as "{scope}: {state}", has none), with the same placeholders."""
    assert set(WORDS["en"]) == set(WORDS["ko"])
    for key, korean in WORDS["ko"].items():
        letters = [ch for ch in re.sub(r"\{\w+\}", "", korean) if ch.isalpha()]
        hangul = [ch for ch in letters if "\uac00" <= ch <= "\ud7a3"]
        assert not letters or hangul, key
        assert set(re.findall(r"\{\w+\}", korean)) == set(
            re.findall(r"\{\w+\}", WORDS["en"][key])
        ), key
