"""The one error root and its small tree. HTTP status codes are chosen only in the HTTP layer."""

from __future__ import annotations


class GatewayError(Exception):
    """Root of every error abgate raises on purpose."""


class ConfigError(GatewayError):
    """A config value broke a rule. The message names the field, the rule and the value."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.detail = message


class RequestError(GatewayError):
    """A client request is malformed; ``where`` is the JSON path of the bad part."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.detail = message


class NotFound(GatewayError):
    """A named thing (experiment, model version) does not exist."""


class Conflict(GatewayError):
    """A change raced with another one and was not applied."""


class Overloaded(GatewayError):
    """A bounded queue is full; the caller should retry later."""

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class InferenceError(GatewayError):
    """The model failed to score a batch."""
