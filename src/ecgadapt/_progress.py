"""One progress-bar helper (rich) for every long job: preparation, downloads, training."""

from __future__ import annotations

from collections.abc import Callable


class progress_bar:
    """Context manager returning ``advance(status="")``: one step done, optionally with a status text."""

    def __init__(self, enabled: bool, label: str, total: int, done: int = 0):
        self.enabled, self.label, self.total, self.done = enabled and total > 0, label, total, done

    def __enter__(self) -> Callable[[str], None]:
        if not self.enabled:
            return lambda status="": None
        from rich.markup import escape
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                            TimeRemainingColumn(), TextColumn("{task.fields[status]}"))
        self.bar.start()
        task = self.bar.add_task(escape(self.label), total=self.total, completed=self.done, status="")

        def advance(status: str = "") -> None:  # a status is often a path: "[" in it is no markup
            self.bar.update(task, advance=1, status=escape(status))

        return advance

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.bar.stop()
