"""The ranking models' input contract: query tokenisation and item-id mapping.

Model cards name this contract (``tokenizer``); the code that trains models and
the code that serves them both call these functions, so they cannot drift.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
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


def item_indices(
    item_ids: Sequence[int | str] | npt.NDArray[np.int64], num_items: int
) -> npt.NDArray[np.int64]:
    """Catalog item id -> embedding row; row 0 is the unknown item (and any string id)."""
    try:
        ids = np.asarray(item_ids, dtype=np.int64)
    except (ValueError, TypeError):  # string SKUs: no row of their own in an integer table
        return np.fromiter(
            (i + 1 if type(i) is int and 0 <= i < num_items else OOV_ITEM for i in item_ids),
            dtype=np.int64,
            count=len(item_ids),
        )
    known = (ids >= 0) & (ids < num_items)
    return np.where(known, ids + 1, OOV_ITEM).astype(np.int64)


def vocabulary_indices(
    item_ids: Sequence[int | str], vocabulary: Mapping[str, int], oov_index: int
) -> npt.NDArray[np.int64]:
    """Item id -> the row its model's vocabulary gives it (ids as text: 12 and "12" are one
    item); an id the vocabulary lacks reads as ``oov_index``."""
    get = vocabulary.get
    return np.fromiter(
        (get(i if type(i) is str else str(i), oov_index) for i in item_ids),
        dtype=np.int64,
        count=len(item_ids),
    )
