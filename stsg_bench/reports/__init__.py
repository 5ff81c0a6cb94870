"""Reports: tables (Markdown, LaTeX booktabs, CSV, HTML), figures (PNG) and an ``index.html`` written
atomically into one folder; the accuracy gate in :mod:`.gate`. Reports only read results files."""

from .render import write_report

__all__ = ["write_report"]
