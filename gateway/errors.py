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
    """A client request is malformed; ``where`` is the JSON path (or header) of the bad part."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.detail = message


class PayloadTooLarge(RequestError):
    """The body, as sent or once inflated, is over the size limit."""


class UnsupportedMediaType(RequestError):
    """The body's Content-Type or Content-Encoding is not one abgate reads."""


class RequestTimeout(RequestError):
    """The client did not send the whole body in time."""


class Unauthorized(GatewayError):
    """No credentials, or wrong ones."""


class Forbidden(GatewayError):
    """Valid credentials, but the request asks for something no caller may do over HTTP."""


class NotFound(GatewayError):
    """A named thing (experiment, model version) does not exist."""


class Conflict(GatewayError):
    """A change raced with others, or breaks a lifecycle rule, and was not applied."""


class Unavailable(GatewayError):
    """A dependency (Redis) is down or this process is draining; the caller should retry later."""

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class NoProduction(Unavailable):
    """The deployment has no production version yet, so a search has no version to serve it."""

    def __init__(self) -> None:
        super().__init__(
            "no production version yet: register a version (POST /v1/models or `abgate models "
            "register`) and, once its gates pass, set it as production (PUT /v1/production or "
            "`abgate production set VERSION --reason ...`)",
            retry_after_s=30.0,
        )


class Overloaded(Unavailable):
    """A bounded queue is full; the caller should retry later."""


class InferenceError(GatewayError):
    """The model failed to score a batch."""
