"""Backup and restore of the control plane (``abgate backup`` / ``abgate restore``).

What cannot be rebuilt from the streams: the keys :data:`gateway.keys.BACKED_UP` names (routing
config and its history, model cards, datasets' metadata, tokens' hashes, the audit stream, ...)
read at one config version, and the ONNX and dataset files that the cards and datasets name, by
their sha256. One file: a tar (gzip) of a JSON header, the keys (msgpack) and the artefacts
(:mod:`gateway.backup.records`, :mod:`gateway.backup.archive`).
"""
