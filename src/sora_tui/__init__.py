"""sora-tui: one prompt, one long coherent AI video."""

__version__ = "0.1.0"
