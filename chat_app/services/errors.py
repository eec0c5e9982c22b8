"""Errors that services raise for the UI and the API to show. Messages are safe to display."""

from __future__ import annotations


class ServiceError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ServiceError):
    """Bad input; ``fields`` maps a field name to its message for inline display."""

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}


class TooLarge(InvalidInput):
    """Input over a size limit (HTTP 413)."""


class NotFound(ServiceError):
    """Missing, or someone else's: the two are deliberately indistinguishable."""

    def __init__(self, what: str = "Conversation") -> None:
        super().__init__(f"{what} not found")


class Conflict(ServiceError):
    pass


class Refused(ServiceError):
    """Permission or policy said no (closed registration, throttled login, ...)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(ServiceError):
    """A shared engine (Redis) is unreachable, or this process is shutting down (HTTP 503).

    Nothing was written: the user can try again in a moment.
    """

    def __init__(
        self,
        message: str = "The service is temporarily unavailable. Try again in a moment.",
        retry_after: float = 5.0,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
