"""The stats validation study: ``make validate-stats`` (``python -m sim.study``)."""
