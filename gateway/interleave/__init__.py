"""Interleaving and multileaving: several rankers' lists merged into one page, clicks credited
to the ranker that placed the clicked item (pure: no I/O)."""
