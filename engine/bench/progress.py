"""Progress on stderr for the benchmark's long loops: a click progress bar on a terminal, plain
lines (start, about every 10 %, end) when stderr is a file or a pipe. Never on stdout, which
`carepath bench --json` keeps for the results."""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Iterator

import click


class _Lines:
    """A progress bar's interface (`update(n)`) written as occasional plain lines."""

    def __init__(self, label: str, total: int):
        self.label, self.total, self.done = label, max(total, 1), 0
        self._next = 0.1
        self._started = time.perf_counter()
        click.echo(f"{label}: 0/{total}", err=True)

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.done / self.total >= self._next and self.done < self.total:
            click.echo(f"{self.label}: {self.done}/{self.total}", err=True)
            while self._next <= self.done / self.total:
                self._next += 0.1

    def finish(self) -> None:
        click.echo(f"{self.label}: {self.done}/{self.total}（{time.perf_counter() - self._started:.1f} 秒）",
                   err=True)


@contextmanager
def progress(label: str, total: int) -> Iterator:
    """`with progress("构建 10 万个实例", n) as bar: bar.update(k)`."""
    if sys.stderr.isatty():
        with click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True,
                               show_eta=True) as bar:
            yield bar
        return
    lines = _Lines(label, total)
    yield lines
    lines.finish()


def note(text: str) -> None:
    """One line of what the benchmark is doing now."""
    click.echo(text, err=True)
