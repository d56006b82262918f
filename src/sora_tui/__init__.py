"""sora-tui: one prompt, one long coherent AI video."""
