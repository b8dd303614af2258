"""The gates' thresholds (settings: ``ABGATE_GATE_*``)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import ConfigError


@dataclass(frozen=True)
class GatePolicy:
    # Offline quality: NDCG@10 may be at most this far below production's.
    ndcg_margin: float = 0.02
    # Latency: a full batch's p50 may be at most this many times production's.
    latency_ratio: float = 3.0
    # Consistency: mean overlap@10 with production must lie in [overlap_min, overlap_max].
    overlap_min: float = 0.0
    overlap_max: float = 1.0
    latency_runs: int = 15
    batch_pairs: int = 2048

    def __post_init__(self) -> None:
        if not 0 <= self.overlap_min <= self.overlap_max <= 1:
            raise ConfigError(
                "ABGATE_GATE_OVERLAP_MIN/MAX",
                f"need 0 <= min <= max <= 1, got {self.overlap_min}, {self.overlap_max}",
            )
