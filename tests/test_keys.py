"""The key layout: every name hash-tagged, users split into shards by CRC-32."""

from __future__ import annotations

import fnmatch

import pytest

from gateway.keys import BACKED_UP, NOT_BACKED_UP, Keys, control_plane, shard_of


def test_shard_of_is_crc32_modulo_the_shard_count() -> None:
    # CRC-32's check value: crc32(b"123456789") = 0xCBF43926 = 3421780262.
    assert shard_of("123456789", 1000) == 3421780262 % 1000 == 262
    assert shard_of("123456789", 1) == 0
    assert {shard_of(f"user{i}", 8) for i in range(200)} == set(range(8))


def test_every_key_carries_the_tag_of_its_slot() -> None:
    keys = Keys("shop", 4)
    shard = keys.for_user("123456789")
    assert shard.index == 3421780262 % 4 and shard.tag == f"{{shop.{shard.index}}}"
    for name in (
        shard.exposures,
        shard.outcomes,
        shard.stats("exp"),
        shard.interleaving("exp"),
        shard.unit("exp", "123456789"),
        shard.search("s1"),
        shard.seen("s1"),
        shard.seen("s1", "e1"),
        shard.activity("123456789"),
        shard.exposed("123456789"),
        shard.seen_checkout("123456789", "e1"),
    ):
        assert name.startswith(shard.tag + ":"), name
    for name in (keys.config, keys.version, keys.audit, keys.production_history, keys.layout):
        assert name.startswith("{shop}:"), name  # the control plane: one slot
    assert [s.tag for s in keys.all_shards] == ["{shop.0}", "{shop.1}", "{shop.2}", "{shop.3}"]


@pytest.mark.parametrize("shards", [0, 1025])
def test_a_shard_count_out_of_range_is_refused(shards: int) -> None:
    with pytest.raises(ValueError, match="shards: 1 to 1024"):
        Keys("shop", shards)


def test_checkout_de_duplication_keys_never_meet_a_searchs_or_each_other() -> None:
    shard = Keys("shop").shard(0)
    names = {
        shard.seen_checkout("a:b", "c"),
        shard.seen_checkout("a", "b:c"),
        shard.seen_checkout("é", "e"),
        shard.seen("s1"),
        shard.seen("s1", "e1"),
    }
    assert len(names) == 5
    assert shard.seen_checkout("a", "e") == "{shop.0}:seen::1:a:e"  # the outcome script's name


def test_every_control_plane_key_is_backed_up_or_says_why_not() -> None:
    """The backup's contract (gateway.backup): a control-plane name added to Keys fails here
    until it is listed as backed up or as left out with the reason."""
    names = control_plane(Keys("shop"))
    assert set(names) == BACKED_UP | set(NOT_BACKED_UP), (
        "list each in gateway.keys.BACKED_UP or NOT_BACKED_UP (with why): "
        f"{sorted(set(names) ^ (BACKED_UP | set(NOT_BACKED_UP)))}"
    )
    assert not BACKED_UP & set(NOT_BACKED_UP)
    assert all(len(why) > 20 for why in NOT_BACKED_UP.values())
    # Names built from an argument are found by their pattern, which meets no other name.
    assert names["evaluation_history"] == "{shop}:history:*"
    for attr, pattern in names.items():
        others = [n for a, n in names.items() if a != attr]
        assert not [n for n in others if fnmatch.fnmatchcase(n, pattern)], attr
