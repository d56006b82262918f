"""A seam and a cut, in the card's few words: a seam by its picture and colour figures; a cut by its
verdict and sound step (two different shots' pictures differ by design, so PSNR and ΔE say nothing)."""

from __future__ import annotations

from typing import Any

from sora_tui.tui.format import seam_label

SEAM: dict[str, Any] = {
    "index": 2,
    "psnr_db": 41.6,
    "delta_e_after": 0.4,
    "verdict": "clean",
    "repeat_cut": True,
    "sound_step_db": -0.2,
    "kind": "seam",
}


def test_a_seam_shows_its_picture_and_colour_figures() -> None:
    assert seam_label(SEAM) == "✓ seam 2|3 clean · 42 dB · ΔE 0.4 · repeat cut"
    assert seam_label(SEAM, repeat=False) == "✓ seam 2|3 clean · 42 dB · ΔE 0.4"


def test_a_cut_shows_its_verdict_and_sound_step_not_picture_figures() -> None:
    cut = {**SEAM, "index": 3, "psnr_db": 15.1, "delta_e_after": 19.2, "kind": "cut", "sound_step_db": 6.5}
    cut["verdict"] = "warn"
    assert seam_label(cut) == "! cut 3|4 warn · sound +6.5 dB"
    assert "dB · ΔE" not in seam_label({**cut, "sound_step_db": None})
