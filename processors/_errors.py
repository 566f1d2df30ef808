"""Errors of the processors package. One hierarchy; the supervisor maps them to wire codes."""

from __future__ import annotations


class ProcessorError(Exception):
    """Base of every error raised by :mod:`processors`."""


class UnknownJobType(ProcessorError, KeyError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"unknown job type {self.name!r}"


class DuplicateProcessor(ProcessorError):
    """A second processor was registered under a name already taken."""


class JobFailed(ProcessorError):
    """A job cannot go on. Its message is shown to the job's owner as is."""


class BackendError(ProcessorError):
    """A backend (geocoder, router, mailer, SMS gateway) refused or failed a request."""


class BackendUnavailable(BackendError):
    """A backend could not be reached in time, retries included."""
