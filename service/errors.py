"""The service's error family.

Errors that belong to the service itself (who may call, what a page or an endpoint was
given, what the monitoring job or the demo could not do) derive from `ServiceError`, itself a
`cunzheng_verify.errors.CunzhengError`. They carry facts only: the HTTP status each one becomes is
chosen in `service.problems`, the one table for that.
"""

from __future__ import annotations

from cunzheng_verify.errors import CunzhengError

__all__ = [
    "AuthError",
    "CaseBuildUnavailable",
    "DemoError",
    "DevnetFailed",
    "ForbiddenError",
    "IncompleteBody",
    "InputError",
    "MonitoringError",
    "ServiceError",
    "VerificationInputError",
]


class ServiceError(CunzhengError):
    """Root of the service's errors."""


class AuthError(ServiceError):
    """Missing, unknown or revoked key (401)."""


class ForbiddenError(ServiceError):
    """A valid key whose role may not do this (403)."""


class IncompleteBody(ServiceError):
    """The request body ended before its declared length (the client went away)."""


class VerificationInputError(ServiceError):
    """What the caller submitted cannot be verified as given (not a zip, bad evidence id)."""


class InputError(ServiceError):
    """The visitor of the verification page brought nothing usable (empty, too large,
    unrecognised)."""


class CaseBuildUnavailable(ServiceError):
    """This build has no package builder or no case-file renderer yet."""


class MonitoringError(ServiceError):
    """The monitoring job was asked something it cannot answer (a date after its clock)."""


class DevnetFailed(ServiceError):
    """The development chain (`cunzheng_devnet`, which stands alone and has its own root
    error) refused to start or stopped on an error; the message is the devnet's."""


class DemoError(ServiceError):
    """A demo step failed; the message says which and where its log is."""
