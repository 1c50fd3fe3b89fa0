"""The package's version: a leaf, so any floor may report it."""

__all__ = ["__version__"]

__version__ = "0.1.0"
