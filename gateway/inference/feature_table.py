"""The candidates' features as one table: a float32 matrix (one row per candidate) and, when the
storefront named them, the name of each column.

A model version declares the names it reads, in its input's order
(:class:`gateway.models.card.InputSpec`); :meth:`FeatureTable.select` builds that input by
name, so versions that read different feature sets rank the same search side by side. A name
the search does not carry raises :class:`MissingFeatures`, which names every missing feature.
Unnamed tables (``features`` sent as arrays) serve only versions that declare a width.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from gateway.errors import RequestError

Float32Array = npt.NDArray[np.float32]

# How many names an error lists before it says "and N more".
_LISTED: Final = 10


class MissingFeatures(RequestError):
    """A version reads features that this search does not carry. For production, the search
    is refused (400: the storefront must send them); for a treatment arm, production serves the
    search instead and the miss counts against the version."""

    def __init__(self, version: str, missing: Sequence[str], detail: str | None = None) -> None:
        self.version = version
        self.missing = tuple(missing)
        super().__init__(
            "$.candidates", f"model version {version!r} {detail or describe_missing(self.missing)}"
        )


def describe_missing(missing: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in missing[:_LISTED])
    more = f" and {len(missing) - _LISTED} more" if len(missing) > _LISTED else ""
    return f"reads feature(s) this search does not carry: {shown}{more}"


@dataclass(frozen=True)
class FeatureTable:
    """``values[i, j]`` is candidate ``i``'s feature ``names[j]`` (``names`` None: unnamed)."""

    values: Float32Array
    names: tuple[str, ...] | None = None
    _columns: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.values.ndim != 2:
            raise ValueError(f"a feature table is 2-D, got shape {self.values.shape}")
        if self.names is not None:
            if len(self.names) != self.values.shape[1]:
                raise ValueError(f"{len(self.names)} names for {self.values.shape[1]} columns")
            self._columns.update((n, j) for j, n in enumerate(self.names))

    @property
    def rows(self) -> int:
        return int(self.values.shape[0])

    @property
    def width(self) -> int:
        return int(self.values.shape[1])

    def missing(self, wanted: Sequence[str]) -> list[str]:
        """The names in ``wanted`` this table lacks (all of them when it is unnamed)."""
        if self.names is None:
            return list(wanted)
        return [n for n in wanted if n not in self._columns]

    def select(self, wanted: Sequence[str], version: str) -> Float32Array:
        """The columns ``wanted``, in that order: ``[rows, len(wanted)]``."""
        missing = self.missing(wanted)
        if missing:
            raise MissingFeatures(version, missing)
        index = [self._columns[n] for n in wanted]
        if index == list(range(self.width)):
            return self.values
        return self.values[:, index]

    def take(self, rows: Sequence[int]) -> FeatureTable:
        """Only the given rows (e.g. the candidates a page showed), names kept."""
        return FeatureTable(self.values[list(rows)], self.names)

    def to_json(self) -> dict[str, object]:
        """Columnar: ``{"names": [...] | None, "values": [[...], ...]}``."""
        return {"names": None if self.names is None else list(self.names), "values": self.values}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureTable:
        names = data.get("names")
        values = np.asarray(data["values"], dtype=np.float32)
        if values.ndim == 1:  # no rows
            values = values.reshape(0, 0 if names is None else len(names))
        return cls(values, None if names is None else tuple(str(n) for n in names))


def unnamed(values: Float32Array | None) -> FeatureTable | None:
    return None if values is None else FeatureTable(np.asarray(values, dtype=np.float32))
