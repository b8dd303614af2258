"""Error texts shown to a registrant name no path on the server."""

from __future__ import annotations

from gateway.models.redact import redact_paths, redact_record

NAMES = {
    "/srv/abgate/var/models/incoming": "<upload>",
    "/srv/abgate/var/models/incoming/5f3c.part": "the uploaded file",
    "/srv/abgate/configs/eval/heldout.jsonl": "heldout.jsonl",
}


def test_known_paths_get_their_names_and_others_are_hidden() -> None:
    ort = (
        "[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load model from "
        "/srv/abgate/var/models/incoming/5f3c.part failed:Protobuf parsing failed."
    )
    assert redact_paths(ort, NAMES) == (
        "[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load model from the uploaded file "
        "failed:Protobuf parsing failed."
    )
    assert (
        redact_paths("cannot read /srv/abgate/configs/eval/heldout.jsonl: gone", NAMES)
        == "cannot read heldout.jsonl: gone"
    )
    assert (
        redact_paths("[Errno 2] No such file or directory: '/opt/x/y.onnx'", {})
        == "[Errno 2] No such file or directory: '<path>'"
    )
    assert redact_paths("/tmp/a.onnx: sha256 1 does not match", {}) == (
        "<path>: sha256 1 does not match"
    )


def test_what_is_not_a_server_path_stays() -> None:
    for text in (
        "p50/p99 2.0 ms; ratio 1/3",
        "see https://onnx.ai/onnx/operators/ for Loop",
        "card.inputs[0] 'item_index': source item_ids needs rank 1",
        "line 1: $.candidates[0].grade: expected an integer in [0, 10], got 'high'",
        "heldout.jsonl and configs/eval/heldout.jsonl",
    ):
        assert redact_paths(text, NAMES) == text


def test_every_string_in_a_record_is_redacted() -> None:
    record = {
        "passed": False,
        "eval_set": {"source": "/srv/abgate/configs/eval/heldout.jsonl", "queries": 3},
        "results": [{"gate": "integrity", "detail": "/a/b.onnx: bad", "figures": {"n": 1}}],
    }
    assert redact_record(record, NAMES) == {
        "passed": False,
        "eval_set": {"source": "heldout.jsonl", "queries": 3},
        "results": [{"gate": "integrity", "detail": "<path>: bad", "figures": {"n": 1}}],
    }
