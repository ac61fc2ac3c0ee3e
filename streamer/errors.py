"""The error hierarchy, sorted by what the caller should do.

::

    StreamerError
     +-- ConfigError            bad YAML, unknown keys, bad values: exit 2, nothing touched
     +-- RetriableError         worth trying again with backoff (the daemon never gives up)
     |    +-- RetriableSourceError   429, 5xx, resets, timeouts, malformed pages
     |    +-- RetriableSinkError     throttling, 5xx, timeouts on S3/Azure/disk
     +-- FatalError             retrying cannot help: exit 1, checkpoint untouched
          +-- FatalSourceError       401/403, not a LeadConduit API, 4xx
          +-- FatalSinkError         missing bucket, bad credentials, permission denied,
          |                          an object that exists with different content
          +-- CheckpointError        corrupt checkpoint, another daemon holds the lease

Every message is one line that names the item (service, bucket, credential_id, key,
YAML path) and says what to do. No message ever contains a secret: messages are built
from names and ids, never from credential values.

Each error also carries a ``component`` (``source``, ``sink``, ``checkpoint``) and a
``kind``: a short, fixed word set where it is raised (``http_503``, ``malformed_page``,
``timeout``, ``ConnectError``...). Metric labels, retry log lines and ``check`` read
these, never the message text, so rewording a message changes no label.
"""

from __future__ import annotations


def leaf_errors(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, depth first, in order.

    A task group reports one failure together with what it did to its siblings (closed
    streams, cancellations); callers pick the error worth one clear line from these.
    """
    if not isinstance(exc, BaseExceptionGroup):
        return [exc]
    return [leaf for inner in exc.exceptions for leaf in leaf_errors(inner)]


def first_error(group: BaseException) -> BaseException:
    """The error to report from a task group, as one clear line.

    Our own errors (:class:`StreamerError`) first; then anything but the closed streams
    a failure leaves its siblings with; else the first leaf.
    """
    from anyio import BrokenResourceError, ClosedResourceError

    leaves = leaf_errors(group)
    if not leaves:
        return group
    for exc in leaves:
        if isinstance(exc, StreamerError):
            return exc
    closed = (BrokenResourceError, ClosedResourceError)
    return next((e for e in leaves if not isinstance(e, closed)), leaves[0])


def http_kind(status: object, code: str | None = None) -> str:
    """The ``kind`` of an HTTP failure: ``http_<status>``, else the service's error code."""
    return f"http_{status}" if isinstance(status, int) else (code or "http_error")


class StreamerError(Exception):
    """Root of everything streamer raises on purpose."""

    exit_code = 1
    #: which part failed: a metric label
    component = "other"
    #: what went wrong, as a label-safe word; defaults to the class name
    kind = ""

    def __init__(self, *args: object, kind: str | None = None) -> None:
        super().__init__(*args)
        self.kind = kind or self.kind or type(self).__name__


class ConfigError(StreamerError):
    """The configuration (or a rules file) is invalid; all problems are listed at once."""

    exit_code = 2

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class RetriableError(StreamerError):
    """A transient failure: retry with jittered backoff."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, kind: str | None = None
    ) -> None:
        super().__init__(message, kind=kind)
        self.retry_after = retry_after


class RetriableSourceError(RetriableError):
    """The LeadConduit API failed in a way that usually heals (429, 5xx, reset, bad page)."""

    component = "source"


class RetriableSinkError(RetriableError):
    """A sink failed in a way that usually heals (throttling, 5xx, timeout, reset)."""

    component = "sink"


class FatalError(StreamerError):
    """Retrying cannot help; the operator must act."""


class FatalSourceError(FatalError):
    """The API refused us for good (wrong key, not LeadConduit, bad request)."""

    component = "source"


class FatalSinkError(FatalError):
    """A sink cannot be written (no bucket, bad credentials, permission, conflicting object)."""

    component = "sink"


class CheckpointError(FatalError):
    """The checkpoint is corrupt or owned by another daemon; it is left untouched."""

    component = "checkpoint"


class CheckpointConflictError(CheckpointError):
    """A bucket checkpoint was changed by another daemon since it was read (lost CAS)."""
