"""Hostile and broken ONNX models for the gate tests, built with onnx's helper API, and the
gate processes that run them.

The never-ending ranker keeps the interface a registrant declares (one ``item_ids`` input,
a float32 ``score`` per pair), so it registers like any other version; only scoring it
never ends: a ``Loop`` of 2**62 iterations adds 1 to the scores it carries. The loop
depends on the input, so ONNX Runtime cannot fold it away when it loads the model.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import onnx
from onnx import TensorProto, helper

from gateway.models.card import ModelCard, parse_declaration
from gateway.models.registrar import Registrar

NUM_ITEMS: Final = 1000
TRIP_COUNT: Final = 1 << 62


def never_ending_model() -> bytes:
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["carried_in", "one"], ["carried_out"]),
        ],
        "forever",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("carried_in", TensorProto.FLOAT, ["pairs"]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("carried_out", TensorProto.FLOAT, ["pairs"]),
        ],
        [helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])],
    )
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["item_index"], ["start"], to=TensorProto.FLOAT),
            helper.make_node("Loop", ["trips", "keep_going", "start"], ["score"], body=body),
        ],
        "never-ending-ranker",
        [helper.make_tensor_value_info("item_index", TensorProto.INT64, ["pairs"])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["pairs"])],
        [
            helper.make_tensor("trips", TensorProto.INT64, [], [TRIP_COUNT]),
            helper.make_tensor("keep_going", TensorProto.BOOL, [], [True]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def never_ending_card(version: str) -> dict[str, Any]:
    """The card a registrant sends with :func:`never_ending_model`."""
    return {
        "version": version,
        "inputs": [{"name": "item_index", "source": "item_ids", "num_items": NUM_ITEMS}],
        "output": "score",
        "description": "scores forever",
    }


def wrong_inputs_model() -> bytes:
    """A valid ONNX ranker whose input is float32 features, not the item ids a card declares."""
    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["features"], ["score"], keepdims=0, axes=[1])],
        "wrong-inputs",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["pairs", 3])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["pairs"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    return model.SerializeToString()


def gate_processes(parents: Iterable[int]) -> list[int]:
    """The pids of the gate processes (gateway.models.gate_runner) that ``parents`` started."""
    wanted = set(parents)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            # The parent pid is the 2nd field after the ")" that ends the command name.
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if ppid in wanted and b"gateway.models.gate_runner" in cmdline:
            found.append(int(entry.name))
    return sorted(found)


async def store_never_ending(registrar: Registrar, version: str, age_s: float = 0.0) -> ModelCard:
    """A never-ending version in the store and on disk, "gating", registered ``age_s`` ago."""
    onnx = never_ending_model()
    sha, _ = registrar.artifacts.put_bytes(onnx)
    card = ModelCard(
        parse_declaration(never_ending_card(version)),
        sha,
        len(onnx),
        {},
        "bob",
        time.time() - age_s,
    )
    assert await registrar.store.register(card, "bob", "registered")
    return card
