"""Settings from the environment: the scale-out and durability ones, refused by name."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from gateway.errors import ConfigError
from gateway.settings import Settings


@pytest.mark.parametrize(
    "name,value,message",
    [
        ("ABGATE_SHARDS", "0", "ABGATE_SHARDS"),
        ("ABGATE_SHARDS", "2000", "ABGATE_SHARDS"),
        ("ABGATE_ACK", "sometimes", "one of buffered, durable, got 'sometimes'"),
        ("ABGATE_MAX_INFLIGHT", "0", "ABGATE_MAX_INFLIGHT"),
        ("ABGATE_SEEN_TTL_S", "1", "ABGATE_SEEN_TTL_S"),
        ("ABGATE_INLINE_SCORING", "yes", "one of auto, 1, 0, got 'yes'"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message) as err:
        Settings.from_env()
    assert err.value.where == name


def test_the_new_settings_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "ABGATE_SHARDS": "16",
        "ABGATE_ACK": "durable",
        "ABGATE_MAX_INFLIGHT": "64",
        "ABGATE_SEARCH_TTL_S": "120",
        "ABGATE_SEEN_TTL_S": "300",
    }.items():
        monkeypatch.setenv(name, value)
    s = Settings.from_env()
    assert (s.shards, s.ack_mode, s.max_inflight, s.search_ttl_s, s.seen_ttl_s) == (
        16, "durable", 64, 120, 300
    )  # fmt: skip
    assert s.keys.shards == 16 and s.keys.prefix == s.prefix


def test_inline_scoring_auto_follows_the_process_cpu_affinity() -> None:
    settings = replace(Settings.from_env(), inline_scoring="auto")
    allowed = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(allowed)})
        assert settings.scores_inline
        if len(allowed) > 1:
            os.sched_setaffinity(0, allowed)
            assert not settings.scores_inline
    finally:
        os.sched_setaffinity(0, allowed)
    assert replace(settings, inline_scoring="1").scores_inline
    assert not replace(settings, inline_scoring="0").scores_inline


def test_the_worker_caps_default_to_the_settings_defaults() -> None:
    """EventCaps's defaults (what a consumer built in a test applies) are the product's."""
    from gateway.worker.aggregates import EventCaps

    defaults = Settings.from_env()
    assert EventCaps() == EventCaps(defaults.max_events_per_search, defaults.max_purchases_per_day)


@pytest.mark.parametrize("url", ["x", "http://127.0.0.1:6379", "redis://", "127.0.0.1:6379"])
def test_a_redis_url_that_names_no_redis_is_refused(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", url)
    with pytest.raises(ConfigError, match=r"^REDIS_URL: expected redis://HOST:PORT"):
        Settings.from_env()
    # The command that reads it says so in one line (it was a traceback from the client).
    from gateway.cli import main

    assert main(["worker"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("abgate: REDIS_URL: expected redis://HOST:PORT") and repr(url) in line


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/0", "rediss://h:1", "unix:///tmp/r.sock", "redis+cluster://h:1"]
)
def test_every_kind_of_redis_url_is_taken(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", url)
    assert Settings.from_env().redis_url == url
