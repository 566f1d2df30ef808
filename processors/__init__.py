"""The job types of sazinka-worker and the runtime API they are written against.

Processors never import ``worker``.
"""

from ._api import CancelShape, Category, FileUse, JobCancelled, ProcessorSpec
from ._backends import BackendConfig, Backends
from ._context import JobContext
from ._errors import (
    BackendError,
    BackendUnavailable,
    DuplicateProcessor,
    JobFailed,
    ProcessorError,
    UnknownJobType,
)
from ._registry import Registry, default_registry
from ._schemas import Failed, MessageCancelled, Processing, ProgressCancelled, Queued

__all__ = [
    "BackendConfig",
    "BackendError",
    "BackendUnavailable",
    "Backends",
    "CancelShape",
    "Category",
    "DuplicateProcessor",
    "Failed",
    "FileUse",
    "JobCancelled",
    "JobContext",
    "JobFailed",
    "MessageCancelled",
    "Processing",
    "ProcessorError",
    "ProcessorSpec",
    "ProgressCancelled",
    "Queued",
    "Registry",
    "UnknownJobType",
    "default_registry",
]
