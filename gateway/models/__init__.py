"""The model registry: cards, content-addressed artifacts, gates, and the gateways that follow it."""
