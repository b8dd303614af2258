"""The ranking models' input contract: query tokenisation and item-id mapping.

Model cards name this contract (``tokenizer``); the code that trains models and
the code that serves them both call these functions, so they cannot drift.
"""

from __future__ import annotations

import zlib
from typing import Final

import numpy as np
import numpy.typing as npt

TOKENIZER_NAME: Final = "crc32-ws-v1"
PAD_TOKEN: Final = 0
OOV_ITEM: Final = 0


def tokenize(query: str, vocab_buckets: int, max_tokens: int) -> npt.NDArray[np.int64]:
    """Lower-cased whitespace tokens hashed into ``[1, vocab_buckets)``, padded with 0."""
    out = np.zeros(max_tokens, dtype=np.int64)
    for i, token in enumerate(query.lower().split()[:max_tokens]):
        out[i] = zlib.crc32(token.encode("utf-8")) % (vocab_buckets - 1) + 1
    return out


def item_indices(item_ids: npt.NDArray[np.int64], num_items: int) -> npt.NDArray[np.int64]:
    """Catalog item id -> embedding row; row 0 is the unknown item."""
    ids = np.asarray(item_ids, dtype=np.int64)
    known = (ids >= 0) & (ids < num_items)
    return np.where(known, ids + 1, OOV_ITEM).astype(np.int64)
