"""One arm's sums as the evaluator reads them: a frozen mapping of every catalogue sum to its
integer value, that adds (shards merge, periods pool) and checks itself."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Final

from gateway.catalogue.quantities import CATALOGUE, USERS, Catalogue


class InconsistentSums(ValueError):
    """Integer sums that no sequence of events could have produced."""


class VariantSums(Mapping[str, int]):
    """Every sum of the catalogue (0 when absent); names the catalogue does not know (written
    by a newer worker) are kept, so that adding shards loses nothing."""

    __slots__ = ("_sums",)

    def __init__(self, sums: Mapping[str, int] | None = None) -> None:
        merged = dict.fromkeys(CATALOGUE.sum_names, 0)
        for name, value in (sums or {}).items():
            merged[name] = int(value)
        self._sums: Final = merged

    def __getitem__(self, name: str) -> int:
        return self._sums[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._sums)

    def __len__(self) -> int:
        return len(self._sums)

    def __add__(self, other: Mapping[str, int]) -> VariantSums:
        out = dict(self._sums)
        for name, value in other.items():
            out[name] = out.get(name, 0) + int(value)
        return VariantSums(out)

    def __sub__(self, other: Mapping[str, int]) -> VariantSums:
        """These sums without a part of their users' (a segment's): the rest's sums."""
        out = dict(self._sums)
        for name, value in other.items():
            out[name] = out.get(name, 0) - int(value)
        return VariantSums(out)

    def __repr__(self) -> str:
        nonzero = {k: v for k, v in self._sums.items() if v}
        return f"VariantSums({nonzero})"

    @property
    def users(self) -> int:
        return self._sums[USERS]


EMPTY: Final = VariantSums()


def check_sums(variant: str, sums: Mapping[str, int], catalogue: Catalogue = CATALOGUE) -> None:
    """Raise :class:`InconsistentSums` if one arm's sums contradict each other: a negative sum,
    a sum above its bound (more converters than users), or a sum of squares below what its sum
    implies (Cauchy–Schwarz: n Σx² ≥ (Σx)²)."""
    users = int(sums.get(USERS, 0))
    for name in catalogue.sum_names:
        if int(sums.get(name, 0)) < 0:
            raise InconsistentSums(f"{variant}: {name} is negative ({sums.get(name)})")
    for q in catalogue.quantities:
        total = int(sums.get(q.name, 0))
        if q.at_most is not None:
            bound = int(sums.get(q.at_most, 0))
            if total > bound:
                raise InconsistentSums(f"{variant}: {total} {q.name} but only {bound} {q.at_most}")
        if q.square:
            square = int(sums.get(q.square, 0))
            if users and users * square < total * total:
                raise InconsistentSums(f"{variant}: {q.square} {square} is below {q.name}²/users")
