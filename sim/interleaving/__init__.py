"""``make validate-interleaving``: how many users interleaving needs against an A/B test, on
the synthetic storefront with the demo rankers (see :mod:`sim.interleaving.study`)."""
