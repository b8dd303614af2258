"""Operational measurements of model versions in experiments: errors and scoring latency,
counted by every gateway process and summed in Redis, judged by the worker."""
