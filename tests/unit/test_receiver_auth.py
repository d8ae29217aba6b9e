"""Tokens from the path, query or bearer header; source addresses behind proxies."""

from __future__ import annotations

import ipaddress

from starlette.datastructures import Secret

from receiver.auth import SourcePolicy, TokenChecker, presented_token


def test_token_from_path_then_query_then_bearer() -> None:
    assert presented_token({"token": "p"}, {"token": "q"}, "Bearer b") == "p"
    assert presented_token({}, {"token": "q"}, "Bearer b") == "q"
    assert presented_token({}, {}, "Bearer b") == "b"
    assert presented_token({}, {}, "bearer   spaced  ") == "spaced"


def test_no_token_or_another_scheme_is_none() -> None:
    assert presented_token({}, {}, None) is None
    assert presented_token({}, {}, "Basic dXNlcjpwYXNz") is None
    assert presented_token({}, {}, "Bearer ") is None
    assert presented_token({}, {"token": ""}, None) is None


def test_any_configured_token_is_accepted_for_rotation() -> None:
    checker = TokenChecker((Secret("old"), Secret("new")), allow_unauthenticated=False)
    assert checker.accepts("old")
    assert checker.accepts("new")
    assert not checker.accepts("older")
    assert not checker.accepts("")
    assert not checker.accepts(None)
    assert not checker.accepts("\udcff")


def test_open_access_accepts_anything() -> None:
    checker = TokenChecker((), allow_unauthenticated=True)
    assert checker.accepts(None)
    assert checker.accepts("whatever")


def networks(*texts: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(text) for text in texts)


def test_forwarded_for_is_ignored_from_an_untrusted_peer() -> None:
    policy = SourcePolicy(allowed=(), trusted_proxies=networks("10.0.0.0/8"))
    assert policy.source_address("203.0.113.9", "198.51.100.1") == "203.0.113.9"


def test_forwarded_for_from_a_trusted_proxy_names_the_first_untrusted_hop() -> None:
    policy = SourcePolicy(allowed=(), trusted_proxies=networks("10.0.0.0/8"))
    # A client may prepend anything; only the hops the proxies appended count.
    assert policy.source_address("10.0.0.2", "6.6.6.6, 198.51.100.1, 10.0.0.5") == "198.51.100.1"
    assert policy.source_address("10.0.0.2", "10.0.0.7") == "10.0.0.7"
    assert policy.source_address("10.0.0.2", " , ") == "10.0.0.2"
    assert policy.source_address("10.0.0.2", None) == "10.0.0.2"


def test_allow_list_by_cidr() -> None:
    policy = SourcePolicy(allowed=networks("198.51.100.0/24", "2001:db8::/32"), trusted_proxies=())
    assert policy.allows("198.51.100.77")
    assert policy.allows("2001:db8::5")
    assert not policy.allows("203.0.113.1")
    assert not policy.allows("not-an-address")
    assert not policy.allows("")


def test_no_allow_list_allows_every_source() -> None:
    assert SourcePolicy(allowed=(), trusted_proxies=()).allows("anything")
