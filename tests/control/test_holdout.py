"""Beginning and ending the holdout: pure changes of the routing config."""

from __future__ import annotations

import pytest

from gateway.config import RoutingConfig
from gateway.control.changes import diff
from gateway.control.holdout import begin_holdout, end_holdout, window_over
from gateway.errors import ConfigError, Conflict, NotFound

T0 = 1_700_000_000.0
CONFIG = RoutingConfig(production="prod-v1")


def test_begin_then_end_keeps_the_ended_holdout_for_its_report() -> None:
    begun = begin_holdout(CONFIG, "prod-v1", 0.05, T0, window_s=3600)
    assert begun.holdout is not None and begun.holdout.active
    assert begun.holdout.ends_at == T0 + 3600
    assert [d["path"] for d in diff(CONFIG, begun)] == ["holdout"]
    ended = end_holdout(begun, T0 + 10)
    assert ended.holdout is not None and not ended.holdout.active
    assert ended.holdout.ended_at == T0 + 10
    assert [d["path"] for d in diff(begun, ended)] == ["holdout.ended_at"]
    assert ended.routed_versions() == {"prod-v1"}


def test_a_running_holdout_is_never_changed_in_place() -> None:
    begun = begin_holdout(CONFIG, "prod-v1", 0.05, T0)
    with pytest.raises(Conflict, match="end it first"):
        begin_holdout(begun, "prod-v1", 0.1, T0 + 100)
    ended = end_holdout(begun, T0 + 100)
    with pytest.raises(Conflict, match="same statistics id"):
        begin_holdout(ended, "prod-v1", 0.1, T0 + 0.5)
    later = begin_holdout(ended, "prod-v1", 0.1, T0 + 200).holdout
    assert later is not None and later.share == 0.1


def test_ending_without_a_holdout_is_not_found() -> None:
    with pytest.raises(NotFound):
        end_holdout(CONFIG, T0)
    with pytest.raises(NotFound):
        end_holdout(end_holdout(begin_holdout(CONFIG, "prod-v1", 0.05, T0), T0 + 1), T0 + 2)


@pytest.mark.parametrize(
    ("share", "window_s", "where"),
    [(0.0, None, "holdout.share"), (0.3, None, "holdout.share"), (0.05, 0.0, "window_s")],
)
def test_bad_values_name_their_field(share: float, window_s: float | None, where: str) -> None:
    with pytest.raises(ConfigError) as caught:
        begin_holdout(CONFIG, "prod-v1", share, T0, window_s=window_s)
    assert caught.value.where == where


def test_the_baseline_is_routed_and_referenced_while_it_runs() -> None:
    begun = begin_holdout(CONFIG, "old-v0", 0.05, T0, window_s=60)
    assert begun.routed_versions() == {"prod-v1", "old-v0"}
    assert "old-v0" in begun.referenced_versions()
    assert not window_over(begun, T0 + 59) and window_over(begun, T0 + 60)
