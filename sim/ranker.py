"""A small two-tower-plus-MLP ranker in torch, exported to ONNX with a dynamic batch axis.

Inputs (one row per (query, candidate) pair): ``query_tokens`` int64 [N, T] and
``item_index`` int64 [N] (row 0 = unknown item). Output: ``score`` float32 [N].
Catalog features (category, brand, log price) are constant tables inside the
graph, so the gateway needs nothing but item ids.
"""

from __future__ import annotations

import torch
from torch import nn

from sim.world import CATEGORIES, NUM_BRANDS, Catalog


class Ranker(nn.Module):
    item_category: torch.Tensor
    item_brand: torch.Tensor
    item_price: torch.Tensor

    def __init__(
        self, catalog: Catalog, vocab_buckets: int, dim: int, use_query: bool = True
    ) -> None:
        super().__init__()
        self.use_query = use_query
        n = catalog.size + 1
        cat = torch.zeros(n, dtype=torch.long)
        cat[1:] = torch.as_tensor(catalog.category)
        brand = torch.zeros(n, dtype=torch.long)
        brand[1:] = torch.as_tensor(catalog.brand)
        price = torch.zeros(n, 1)
        log_price = torch.log(torch.as_tensor(catalog.price, dtype=torch.float32))
        price[1:, 0] = (log_price - log_price.mean()) / log_price.std()
        self.register_buffer("item_category", cat)
        self.register_buffer("item_brand", brand)
        self.register_buffer("item_price", price)
        self.tokens = nn.Embedding(vocab_buckets, dim, padding_idx=0)
        self.items = nn.Embedding(n, dim)
        self.categories = nn.Embedding(len(CATEGORIES), dim)
        self.brands = nn.Embedding(NUM_BRANDS, dim)
        self.price = nn.Linear(1, dim)
        self.head = nn.Sequential(nn.Linear(3 * dim, 2 * dim), nn.ReLU(), nn.Linear(2 * dim, 1))

    def forward(self, query_tokens: torch.Tensor, item_index: torch.Tensor) -> torch.Tensor:
        mask = (query_tokens > 0).float().unsqueeze(-1)
        q = (self.tokens(query_tokens) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        if not self.use_query:
            q = torch.zeros_like(q)
        item = (
            self.items(item_index)
            + self.categories(self.item_category[item_index])
            + self.brands(self.item_brand[item_index])
            + self.price(self.item_price[item_index])
        )
        scores: torch.Tensor = self.head(torch.cat([q, item, q * item], dim=1)).squeeze(-1)
        return scores
