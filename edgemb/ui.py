"""The terminal: one rich console for every command, and progress bars."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console(highlight=False)
VERBOSE = False


def info(message: str) -> None:
    console.print(message)


def detail(message: str) -> None:
    """Printed only with -v/--verbose."""
    if VERBOSE:
        console.print(f"[dim]{message}[/dim]")


def progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                    console=console, transient=False)


def table(title: str, columns: list[str], rows: list[list]) -> Table:
    out = Table(title=title, title_justify="left")
    for i, name in enumerate(columns):
        out.add_column(name, justify="left" if i == 0 else "right")
    for row in rows:
        out.add_row(*[str(cell) for cell in row])
    return out
