"""Entramado: an open platform for networked government."""

__version__ = "0.1.0"
