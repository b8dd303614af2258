"""What a registrant is told must not map the server: error texts from ONNX Runtime, the file
system and the gates name the server's absolute paths (``Load model from
/srv/abgate/var/models/incoming/….part failed``). Pure: known paths become the names a
registrant knows them by, and any other absolute path becomes ``<path>``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

# An absolute POSIX path: a '/' that no word, dot, colon or slash precedes (so neither
# "p50/p99" nor "http://host/x" is one), then characters up to a space, quote or bracket.
_ABSOLUTE: Final = re.compile(r"(?<![\w.:/~-])/(?=[\w.~-])[^\s'\"`,;:()\[\]{}<>]*")
HIDDEN: Final = "<path>"


def redact_paths(text: str, names: Mapping[str, str]) -> str:
    """``text`` with each path in ``names`` replaced by its name (longest first, so a file
    inside a named directory keeps its own name) and every other absolute path by ``<path>``."""
    for path in sorted(names, key=len, reverse=True):
        if path:
            text = text.replace(path, names[path])
    return _ABSOLUTE.sub(HIDDEN, text)


def redact_record(value: Any, names: Mapping[str, str]) -> Any:
    """A gate record (JSON-like) with every string in it redacted."""
    if isinstance(value, str):
        return redact_paths(value, names)
    if isinstance(value, Mapping):
        return {k: redact_record(v, names) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_record(v, names) for v in value]
    return value
