"""Process settings from the environment: typed, frozen, validated once."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from gateway.errors import ConfigError
from gateway.keys import MAX_SHARDS, Keys
from gateway.models.gate_policy import GatePolicy
from gateway.redis_urls import check_url

ROOT = Path(__file__).resolve().parent.parent
# The token of the demo: well known, so anyone who can reach the port can change experiments.
DEMO_ADMIN_TOKEN = "dev-admin-token"


def _admin_token() -> tuple[str, bool]:
    """(token, whether it is the demo default). Set but empty, or with whitespace, is refused."""
    raw = os.environ.get("ABGATE_ADMIN_TOKEN")
    if raw is None or raw == DEMO_ADMIN_TOKEN:
        return DEMO_ADMIN_TOKEN, True
    if not raw.strip():
        raise ConfigError("ABGATE_ADMIN_TOKEN", "is set but empty; set a secret or unset it")
    if any(c.isspace() for c in raw) or not raw.isprintable():
        raise ConfigError("ABGATE_ADMIN_TOKEN", "must not contain whitespace or control characters")
    return raw, False


def _env_float(name: str, default: float, lo: float, hi: float) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, f"expected a number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(name, f"must be in [{lo}, {hi}], got {value}")
    return value


def _env_int(name: str, default: int, lo: int, hi: int) -> int:
    value = _env_float(name, default, lo, hi)
    if value != int(value):
        raise ConfigError(name, f"expected an integer, got {value}")
    return int(value)


def _env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, default)
    if value not in choices:
        raise ConfigError(name, f"one of {', '.join(choices)}, got {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    redis_url: str | None
    prefix: str
    var_dir: Path
    models_dir: Path  # the content-addressed model store
    seed_models_dir: (
        Path  # <version>/{card.json,model.onnx} registered when the seed config names them
    )
    # `abgate serve --seed DIR`: <version>/{card.json,model.onnx} and an optional routing.toml
    # seed an empty store (gateway.models.seed); the routing file above is then not read.
    seed_dir: Path | None
    eval_file: Path  # the offline gates' evaluation set
    routing_file: Path
    admin_token: str
    admin_token_is_default: bool
    host: str
    port: int
    max_batch_pairs: int
    max_wait_ms: float
    batch_queue: int
    intra_op_threads: int
    prefer_cuda: bool
    max_body_bytes: int
    body_timeout_s: float
    max_model_bytes: int
    upload_timeout_s: float
    max_loaded_models: int
    score_timeout_s: float
    stream_retention_s: float  # applied stream entries older than this are trimmed
    unit_grace_s: float  # a concluded experiment's per-user keys live this long
    # The gate policy's first default (until one is set in the store: abgate gates policy).
    gate_ndcg_margin: float
    gate_latency_ratio: float | None
    gate_overlap_min: float
    gate_overlap_max: float
    # Set by `abgate run`: the demo may use the well-known token without a warning.
    demo: bool
    # At most this share of one CPU core goes to a gateway process's shadow scoring; past it,
    # shadow jobs are dropped (counted) rather than compete with searches.
    shadow_cpu_share: float = 0.05
    # The processes `abgate serve` starts share one id; a process refuses a port that a
    # gateway of another deployment answers on (SO_REUSEPORT would split the traffic).
    deployment: str = ""
    # The data that grows with traffic is split into this many shards by user (gateway.keys);
    # fixed for a deployment, several per Redis Cluster master.
    shards: int = 1
    # "buffered": an event is answered once in the process's buffer (a hard kill loses at most
    # one flush window); "durable": once in Redis or the fsync'd spool (group commit).
    ack_mode: str = "buffered"
    # Searches a process works on at once; past it a search is answered 503 with Retry-After
    # at once (load shedding): queues stay bounded and the served ones' latency with them.
    max_inflight: int = 256
    # ... and while the event loop runs this far behind (requests wait in the socket buffers).
    max_lag_ms: float = 50.0
    # The de-duplication window of event ids and how long a search's events are joined to it.
    seen_ttl_s: int = 7 * 86_400
    # Score batches on the event loop's thread: "auto" when the process may use one CPU only.
    inline_scoring: str = "auto"
    search_ttl_s: int = 86_400
    # A version's gates (sanity, quality, latency, consistency) run in a child process that is
    # killed past this deadline; the version then fails with that reason.
    gate_timeout_s: float = 300.0
    # Reuse the records of identical gate runs kept here (gateway.models.gate_cache): for test
    # suites and CI, which register the same versions again and again; None (the default) in
    # a deployment, whose latency gate must measure its own machine each time.
    gate_cache_dir: Path | None = None
    # Connections: a request line and headers must be complete this long after a connection
    # opens (or after the first byte of a later request); an idle keep-alive connection is
    # closed after keepalive_s; past max_connections open in one process, the longest idle is
    # closed to make room, else the new one is refused at once (503). The process raises its
    # descriptor limit to the hard limit, and keeps the cap below it.
    header_timeout_s: float = 10.0
    keepalive_s: float = 75.0
    max_connections: int = 8192
    # "token": searches and events need a token of the storefront role (or admin); "open":
    # anyone who reaches the port may send them (and so weigh on every decision).
    serving_auth: str = "token"
    # What one user can weigh in the statistics: events of each type per search, purchases
    # per day; events past a cap are not counted (they are counted as capped).
    max_events_per_search: int = 20
    max_purchases_per_day: int = 20
    # Feature logging: the share of searches whose exposure carries the features each shown
    # item was ranked with (for datasets built from traffic), at most so many numbers each.
    feature_log_share: float = 0.0
    feature_log_max_values: int = 20_000
    # An evaluation dataset's upload (POST /v1/datasets), as sent.
    max_dataset_bytes: int = 256 << 20
    # Webhooks (gateway.webhooks): one POST's deadline; a failed delivery is tried again after
    # about webhook_retry_s, doubling each time (up to an hour), webhook_attempts times in all.
    webhook_timeout_s: float = 10.0
    webhook_retry_s: float = 10.0
    webhook_attempts: int = 8
    # At start a process waits this long for Redis (retrying with backoff, its readiness 503
    # with the reason meanwhile), then exits non-zero: the service manager restarts it.
    redis_wait_s: float = 300.0
    # Without REDIS_URL, serve / worker / run start a Redis of their own (the demo's way);
    # the container image says no (0): a replica must never run on a private store.
    embedded_redis: bool = True

    @property
    def scores_inline(self) -> bool:
        """Whether batches are scored on the event loop's thread (gateway.inference.batcher)."""
        if self.inline_scoring == "auto":
            return len(os.sched_getaffinity(0)) == 1
        return self.inline_scoring == "1"

    @property
    def keys(self) -> Keys:
        return Keys(self.prefix, self.shards)

    @property
    def gate_policy(self) -> GatePolicy:
        return GatePolicy(
            ndcg_margin=self.gate_ndcg_margin,
            latency_ratio=self.gate_latency_ratio,
            overlap_min=self.gate_overlap_min,
            overlap_max=self.gate_overlap_max,
        )

    @property
    def spool_dir(self) -> Path:
        return self.var_dir / "spool" / self.prefix

    @classmethod
    def from_env(cls) -> Settings:
        var_dir = Path(os.environ.get("ABGATE_VAR_DIR", ROOT / "var"))
        prefix = os.environ.get("ABGATE_PREFIX", "abgate")
        if not prefix.replace("-", "").replace("_", "").isalnum():
            raise ConfigError("ABGATE_PREFIX", f"letters, digits, '-' and '_' only, got {prefix!r}")
        admin_token, admin_token_is_default = _admin_token()
        return cls(
            redis_url=check_url(os.environ["REDIS_URL"]) if os.environ.get("REDIS_URL") else None,
            prefix=prefix,
            var_dir=var_dir,
            models_dir=Path(os.environ.get("ABGATE_MODELS_DIR", var_dir / "models")),
            seed_models_dir=Path(os.environ.get("ABGATE_SEED_MODELS", var_dir / "demo-models")),
            seed_dir=Path(os.environ["ABGATE_SEED"]) if os.environ.get("ABGATE_SEED") else None,
            eval_file=Path(
                os.environ.get(
                    "ABGATE_EVAL_FILE", ROOT / "configs" / "eval" / "storefront-heldout.jsonl"
                )
            ),
            routing_file=Path(
                os.environ.get("ABGATE_ROUTING", ROOT / "configs" / "experiments.toml")
            ),
            admin_token=admin_token,
            admin_token_is_default=admin_token_is_default,
            host=os.environ.get("ABGATE_HOST", "127.0.0.1"),
            port=_env_int("ABGATE_PORT", 8080, 0, 65535),
            max_batch_pairs=_env_int("ABGATE_MAX_BATCH_PAIRS", 4096, 1, 1 << 20),
            max_wait_ms=_env_float("ABGATE_MAX_WAIT_MS", 2.0, 0.0, 1000.0),
            batch_queue=_env_int("ABGATE_BATCH_QUEUE", 1024, 1, 1 << 20),
            intra_op_threads=_env_int("ABGATE_INTRA_OP_THREADS", 1, 1, 256),
            prefer_cuda=os.environ.get("ABGATE_CUDA", "1") != "0",
            max_body_bytes=_env_int("ABGATE_MAX_BODY_BYTES", 8 << 20, 1024, 64 << 20),
            body_timeout_s=_env_float("ABGATE_BODY_TIMEOUT_S", 5.0, 0.05, 300.0),
            max_model_bytes=_env_int("ABGATE_MAX_MODEL_BYTES", 256 << 20, 1024, 16 << 30),
            upload_timeout_s=_env_float("ABGATE_UPLOAD_TIMEOUT_S", 120.0, 1.0, 3600.0),
            max_loaded_models=_env_int("ABGATE_MAX_LOADED_MODELS", 8, 1, 1000),
            score_timeout_s=_env_float("ABGATE_SCORE_TIMEOUT_MS", 500.0, 1.0, 60_000.0) / 1000.0,
            stream_retention_s=_env_float("ABGATE_STREAM_RETENTION_S", 86_400.0, 0.0, 1e9),
            unit_grace_s=_env_float("ABGATE_UNIT_GRACE_S", 7 * 86_400.0, 1.0, 1e9),
            gate_ndcg_margin=_env_float("ABGATE_GATE_NDCG_MARGIN", 0.02, 0.0, 1.0),
            gate_latency_ratio=_env_float("ABGATE_GATE_LATENCY_RATIO", 3.0, 1.0, 1000.0)
            if os.environ.get("ABGATE_GATE_LATENCY_RATIO")
            else None,
            gate_overlap_min=_env_float("ABGATE_GATE_OVERLAP_MIN", 0.0, 0.0, 1.0),
            gate_overlap_max=_env_float("ABGATE_GATE_OVERLAP_MAX", 1.0, 0.0, 1.0),
            demo=os.environ.get("ABGATE_DEMO") == "1",
            shadow_cpu_share=_env_float("ABGATE_SHADOW_CPU_SHARE", 0.05, 0.01, 1.0),
            deployment=os.environ.get("ABGATE_DEPLOYMENT") or uuid.uuid4().hex,
            shards=_env_int("ABGATE_SHARDS", 1, 1, MAX_SHARDS),
            ack_mode=_env_choice("ABGATE_ACK", "buffered", ("buffered", "durable")),
            max_inflight=_env_int("ABGATE_MAX_INFLIGHT", 256, 1, 1 << 20),
            max_lag_ms=_env_float("ABGATE_MAX_LAG_MS", 50.0, 1.0, 60_000.0),
            inline_scoring=_env_choice("ABGATE_INLINE_SCORING", "auto", ("auto", "1", "0")),
            seen_ttl_s=_env_int("ABGATE_SEEN_TTL_S", 7 * 86_400, 10, 1 << 31),
            search_ttl_s=_env_int("ABGATE_SEARCH_TTL_S", 86_400, 10, 1 << 31),
            gate_timeout_s=_env_float("ABGATE_GATE_TIMEOUT_S", 300.0, 1.0, 86_400.0),
            gate_cache_dir=Path(os.environ["ABGATE_GATE_CACHE_DIR"])
            if os.environ.get("ABGATE_GATE_CACHE_DIR")
            else None,
            header_timeout_s=_env_float("ABGATE_HEADER_TIMEOUT_S", 10.0, 0.1, 3600.0),
            keepalive_s=_env_float("ABGATE_KEEPALIVE_S", 75.0, 0.1, 86_400.0),
            max_connections=_env_int("ABGATE_MAX_CONNECTIONS", 8192, 16, 1 << 20),
            serving_auth=_env_choice("ABGATE_SERVING_AUTH", "token", ("token", "open")),
            max_events_per_search=_env_int("ABGATE_MAX_EVENTS_PER_SEARCH", 20, 1, 1_000_000),
            max_purchases_per_day=_env_int("ABGATE_MAX_PURCHASES_PER_DAY", 20, 1, 1_000_000),
            feature_log_share=_env_float("ABGATE_FEATURE_LOG_SHARE", 0.0, 0.0, 1.0),
            feature_log_max_values=_env_int("ABGATE_FEATURE_LOG_MAX_VALUES", 20_000, 1, 1_000_000),
            max_dataset_bytes=_env_int("ABGATE_MAX_DATASET_BYTES", 256 << 20, 1024, 16 << 30),
            webhook_timeout_s=_env_float("ABGATE_WEBHOOK_TIMEOUT_S", 10.0, 0.1, 300.0),
            webhook_retry_s=_env_float("ABGATE_WEBHOOK_RETRY_S", 10.0, 0.01, 3600.0),
            webhook_attempts=_env_int("ABGATE_WEBHOOK_ATTEMPTS", 8, 1, 100),
            redis_wait_s=_env_float("ABGATE_REDIS_WAIT_S", 300.0, 0.0, 86_400.0),
            embedded_redis=_env_choice("ABGATE_EMBEDDED_REDIS", "1", ("1", "0")) == "1",
        )
