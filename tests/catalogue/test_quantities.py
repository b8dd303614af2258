from __future__ import annotations

import pytest

from gateway.catalogue.quantities import CATALOGUE, SUM_NAMES, Catalogue, Cross, Quantity

# The sums an arm keeps are names in Redis: a running experiment's sums are read by the next
# worker version, so a name never changes (a new one is added).
KEPT = {
    "users", "converters", "revenue_cents", "revenue_cents_sq", "searches", "searches_sq",
    "clicks", "clicks_sq", "clicks_x_searches", "carts", "revenue_x_searches",
    "pre_purchases", "pre_purchases_sq", "converters_x_pre", "pre_revenue", "pre_revenue_sq",
    "revenue_x_pre", "clicked_searches", "clicked_searches_sq", "clicked_searches_x_searches",
    "rr", "rr_sq", "rr_x_searches", "dcg", "dcg_sq", "dcg_x_searches", "carts_sq",
    "carts_x_searches", "rrc", "rrc_sq", "rrc_x_clicks", "capped",
}  # fmt: skip


def test_the_sums_names_are_those_kept_so_far() -> None:
    assert set(SUM_NAMES) >= KEPT
    assert len(set(SUM_NAMES)) == len(SUM_NAMES)


def test_expected_sums_follow_the_rule_of_sums() -> None:
    users = [
        {"searches": 3, "clicks": 2, "revenue_cents": 500},
        {"searches": 1, "clicks": 0, "revenue_cents": 100_000_000},  # capped at 90 000 000
    ]
    sums = CATALOGUE.expected_sums(users)
    assert sums["users"] == 2
    assert sums["searches"] == 4 and sums["searches_sq"] == 10
    assert sums["clicks_x_searches"] == 6
    assert sums["revenue_cents"] == 500 + 90_000_000
    assert sums["revenue_x_searches"] == 1500 + 90_000_000
    assert sums["converters"] == 0 and "converters_sq" not in sums  # binary: its own square


@pytest.mark.parametrize(
    ("quantities", "crosses", "message"),
    [
        ((Quantity("a", {"click": "1"}), Quantity("a", {"click": "1"})), (), "share a name"),
        ((Quantity("a", {}),), (), "no event moves it"),
        ((Quantity("a", {"click": "1"}),), (Cross("a", "b"),), "'b' is no quantity"),
        ((Quantity("a", {"click": "1"}, at_most="z"),), (), "at_most names 'z'"),
        (
            (Quantity("a", {"click": "1"}), Quantity("a_x_a", {"click": "1"})),
            (Cross("a", "a"),),
            "collide",
        ),
    ],
)
def test_a_bad_catalogue_is_refused_naming_what(
    quantities: tuple[Quantity, ...], crosses: tuple[Cross, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Catalogue(quantities, crosses)
