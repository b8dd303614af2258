"""Signed webhooks: registered endpoints receive decisions, production moves, gate results,
lifecycle changes and alerts, read from what is already written (the audit stream, the
evaluations) and posted by the worker's dispatcher with retries (docs/operations.md#webhooks)."""
