"""Locust scenarios against a running abgate (``make loadtest``)."""
