"""ONNX Runtime sessions: CUDA execution provider when it loads, otherwise CPU, said once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnxruntime as ort

log = logging.getLogger("abgate.inference")

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"

_said_cpu = False


@dataclass(frozen=True)
class SessionOptions:
    intra_op_threads: int = 1
    prefer_cuda: bool = True


def create_session(path: Path, options: SessionOptions) -> tuple[Any, str]:
    """Load ``path``; return the session and the provider that actually runs it."""
    global _said_cpu
    so = ort.SessionOptions()
    so.intra_op_num_threads = options.intra_op_threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3  # a CPU-only host must not spam CUDA load errors
    providers = [CPU]
    if options.prefer_cuda and CUDA in ort.get_available_providers():
        providers = [CUDA, CPU]
    if CUDA in providers:
        # ORT logs a multi-line error per session when CUDA libraries are missing;
        # the one line below says it instead.
        ort.set_default_logger_severity(4)
    try:
        session = ort.InferenceSession(str(path), sess_options=so, providers=providers)
    finally:
        ort.set_default_logger_severity(2)
    active = session.get_providers()[0]
    if active != CUDA and not _said_cpu:
        _said_cpu = True
        reason = (
            "CUDA execution provider did not load (no GPU or CUDA libraries)"
            if CUDA in providers
            else "CUDA execution provider not available in this onnxruntime build"
            if options.prefer_cuda
            else "CUDA disabled by configuration"
        )
        log.warning("inference on CPU: %s", reason)
    return session, active
