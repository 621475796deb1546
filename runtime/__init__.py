"""The composition root: one settings tree and one factory per component, for the in-process app and every
Serve deployment alike."""

__version__ = "0.1.0"
