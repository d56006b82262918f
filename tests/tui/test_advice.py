"""The studio words engine errors in its own terms (issue 10, item 3); the CLI in flags."""

from __future__ import annotations

from sora_tui.cli import cli_advice
from sora_tui.core.errors import Code, InputError
from sora_tui.tui.advice import explain, label, problem, studio_words


def test_each_front_end_words_the_same_error():
    over = InputError("max_cost", "this job would cost $3.00, over the cap of $2.00", code=Code.OVER_BUDGET)
    key = InputError(
        "model",
        "veo3.1-fast renders on fal.ai and no fal key is set",
        code=Code.RENDER_KEY,
        context={"key": "fal", "env_var": "FAL_KEY"},
    )
    missing = InputError("segment 2", "file x.mp4 is missing", code=Code.SEGMENT_FILE, context={"job": "J", "index": 2})
    assert "--max-cost" in cli_advice(over) and "--max-cost" not in explain(over)
    assert explain(over).startswith("Budget cap: ") and "raise the budget cap" in explain(over)
    assert "--model preview" in cli_advice(key) and "Settings (F5)" in explain(key)
    assert "sora-tui" not in explain(key) and "--" not in explain(key)
    assert "sora-tui redo J --from 2" in cli_advice(missing) and "History (F4) → k" in explain(missing)
    assert (
        problem(over) == "this job would cost $3.00, over the cap of $2.00; " + "raise the budget cap, use fewer "
        "or shorter segments, or choose a cheaper model"
    )


def test_labels_not_field_ids():
    assert label("start_image") == "Start image"
    assert label("plan.segments[2].seconds") == "Segment 2 · Seconds per segment"
    assert label("plan.max_cost") == "Budget cap"
    bad = InputError("start_image", "x.png is not a PNG, JPEG, WebP or BMP image", code=Code.BAD_IMAGE)
    assert explain(bad).startswith("Start image: ") and "start_image" not in explain(bad)


def test_stored_messages_lose_their_cli_commands():
    text = (
        "segment 2 was refused: nope. Edit segment 2 in /j/plan.json and run `sora-tui redo 2026-abc --from 2`; "
        "the fal key was rejected; set a valid key with `sora-tui keys set fal` or export FAL_KEY, then "
        "`sora-tui resume 2026-abc`; budget cap reached; resume with a higher --max-cost"
    )
    words = studio_words(text)
    assert "sora-tui" not in words and "--" not in words
    assert "History (F4) → k redo from segment 2" in words and "History (F4) → r Resume" in words
    assert "Settings (F5)" in words and "raise the budget cap" in words
