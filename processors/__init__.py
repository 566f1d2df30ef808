"""The job types of sazinka-worker and the runtime API they are written against.

Processors never import ``worker``.
"""

from ._api import CancelShape, Category, FileUse, JobCancelled, ProcessorSpec
from ._context import JobContext
from ._errors import DuplicateProcessor, JobFailed, ProcessorError, UnknownJobType
from ._registry import Registry, default_registry
from ._statuses import Failed, ImportCancelled, MessageCancelled, Processing, Queued

__all__ = [
    "CancelShape",
    "Category",
    "DuplicateProcessor",
    "Failed",
    "FileUse",
    "ImportCancelled",
    "JobCancelled",
    "JobContext",
    "JobFailed",
    "MessageCancelled",
    "Processing",
    "ProcessorError",
    "ProcessorSpec",
    "Queued",
    "Registry",
    "UnknownJobType",
    "default_registry",
]
