"""Headless engine of sora-tui. Never imports textual or rich; heavy modules load lazily."""
