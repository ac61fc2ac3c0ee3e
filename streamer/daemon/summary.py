"""What a daemon run did: the CLI's closing line, ``--json`` and the tests read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamer.daemon.runtime import Runtime
    from streamer.pipeline.processor import Processor


@dataclass
class RunSummary:
    """What a run did, for the CLI's closing line and the tests."""

    fetched: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    written: int = 0
    batches: int = 0
    objects: int = 0
    late_caught: int = 0
    late_beyond: int = 0
    cursor: str | None = None
    services: list[str] = field(default_factory=list)
    seconds: float = 0.0
    forced: bool = False
    recovered: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain form for logs and ``--json``."""
        rate = self.fetched / self.seconds if self.seconds else 0.0
        return {**self.__dict__, "events_per_second": round(rate, 1)}

    def force(self) -> None:
        """A second signal cut the drain short (exit status 1)."""
        self.forced = True

    def add(self, processor: Processor, rt: Runtime) -> None:
        """Add one pipeline's counts (a reload runs several in one process)."""
        stats = processor.stats
        self.fetched += stats.fetched
        self.kept += stats.kept
        for name, count in (*stats.dropped.items(),):
            self.dropped[name] = self.dropped.get(name, 0) + count
        for name, count in rt.recovered.items():
            self.recovered[name] = self.recovered.get(name, 0) + count
        self.written += rt.writer.events_written
        self.batches += rt.writer.batches
        self.objects += rt.writer.objects_written
        self.late_caught += rt.source.late_caught
        self.late_beyond += rt.source.late_beyond
        self.cursor = rt.writer.checkpoint.cursor
