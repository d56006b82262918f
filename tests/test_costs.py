"""The cost rules, once (core.costs): the kind-aware quote, the cap test, what a job has spent."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from sora_tui.core import costs
from sora_tui.core.catalog import load_catalog
from sora_tui.core.costs import estimate_cost, plan_segment_cost
from sora_tui.core.engine import Engine
from sora_tui.core.models import Mode, Plan, SegmentPlan, SegmentStatus
from sora_tui.core.store import Keyframe

CATALOG = load_catalog(None)


def ltx_plan(mode: Mode = Mode.CHAIN, n: int = 2, start_image: str | None = None) -> Plan:
    return Plan(
        prompt="a lighthouse at dusk",
        model="ltx-2.3",
        resolution="1080p",
        aspect="16:9",
        segments=[SegmentPlan(prompt=f"shot {i}", seconds=8) for i in range(1, n + 1)],
        mode=mode,
        audio=False,
        start_image=start_image,
    )


def kind_rate(model: str, kind: str, resolution: str) -> float:
    """The catalog's per-second price of one kind of call (read from the table, not the code)."""
    spec = CATALOG.get(model)
    table = spec.kind.get(kind, {}).get("price", spec.price)
    return float(table["per_second"][resolution])


def test_ltx_text_to_video_is_priced_at_its_own_kind() -> None:
    # chain mode with no start image: segment 1 is text-to-video, segment 2 image-to-video
    q = costs.quote(ltx_plan(), CATALOG)
    t2v, i2v = kind_rate("ltx-2.3", "t2v", "1080p"), kind_rate("ltx-2.3", "i2v", "1080p")
    assert t2v != i2v  # the catalog prices them apart: the test would not tell otherwise
    assert q.segment(1) == pytest.approx(8 * t2v) and q.segment(2) == pytest.approx(8 * i2v)
    assert q.total == estimate_cost(ltx_plan(), CATALOG) == pytest.approx(8 * (t2v + i2v))


def test_redo_quote_is_what_the_run_charges(home: Path) -> None:
    """The redo quote is the sum the run's budget check charges at each submit (plan_segment_cost,
    each segment at its kind's price), not the model's main price for every segment."""
    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    plan = ltx_plan(n=3)
    job = engine.create_job(plan)
    spec = CATALOG.get(plan.model)
    cost, indexes = engine.redo_cost(job.id, 1)
    assert indexes == [1, 2, 3]
    charged = sum(plan_segment_cost(plan, spec, i) for i in indexes)  # what JobRun.submit checks and bills
    assert cost == pytest.approx(charged)
    blind = sum(spec.segment_cost(8, "1080p", False) for _ in indexes)
    assert cost != pytest.approx(blind)  # the old, kind-blind quote


def test_redo_of_an_extension_is_priced_at_the_extend_price(home: Path) -> None:
    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    plan = Plan(
        prompt="a lighthouse",
        model="veo3.1-fast",
        resolution="720p",
        aspect="16:9",
        segments=[SegmentPlan(prompt="open", seconds=8), SegmentPlan(prompt="more", seconds=7)],
        mode=Mode.EXTEND,
        audio=False,
    )
    job = engine.create_job(plan)
    engine.store.update_segment(job.id, 1, status=SegmentStatus.DONE)
    cost, indexes = engine.redo_cost(job.id, 2, only=True)
    assert indexes == [2]
    assert cost == pytest.approx(7 * float(CATALOG.get("veo3.1-fast").kind["extend"]["price"]["per_second"]["default"]))
    assert cost == pytest.approx(costs.quote(plan, CATALOG, [2]).total)


def test_keyframe_images_are_n_plus_one_less_a_start_image(tmp_path: Path) -> None:
    price = CATALOG.image_model_for(CATALOG.get("ltx-2.3")).price_per_image
    assert price > 0
    q = costs.quote(ltx_plan(Mode.KEYFRAMES, n=3), CATALOG)
    assert q.images == 4 and q.images_cost == pytest.approx(4 * price)
    q = costs.quote(ltx_plan(Mode.KEYFRAMES, n=3, start_image=str(tmp_path / "a.png")), CATALOG)
    assert q.images == 3 and q.images_cost == pytest.approx(3 * price)
    assert q.total == pytest.approx(q.videos + 3 * price)
    assert costs.quote(ltx_plan(Mode.KEYFRAMES, n=3), CATALOG, keyframes=False).images == 0


def test_over_cap() -> None:
    assert not costs.over_cap(5.0, None)
    assert not costs.over_cap(1.0, 1.0)
    assert not costs.over_cap(0.1 + 0.2, 0.3)  # float sums that meet the cap are not over it
    assert costs.over_cap(1.01, 1.0)
    assert costs.over_cap(0.6, 1.0, spent=0.5)
    assert not costs.over_cap(0.5, 1.0, spent=0.5)


def test_job_spent_counts_videos_images_and_speech(home: Path) -> None:
    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    job = engine.create_job(ltx_plan())
    engine.store.update_segment(job.id, 1, cost_usd=0.64)
    engine.store.upsert_keyframe(Keyframe(job.id, 0, "k", "done", None, cost_usd=0.08))
    assert costs.job_spent(engine.store, job.id) == pytest.approx(0.72)
    assert engine.cancel_quote(job.id).spent_usd == pytest.approx(0.72)


def test_cli_plan_table_prices_each_segment_at_its_kind(home: Path) -> None:
    from rich.console import Console

    from sora_tui.cli import print_plan

    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    out = Console(file=io.StringIO(), width=200, highlight=False)
    print_plan(engine, ltx_plan(), out)
    text = out.file.getvalue()  # type: ignore[attr-defined]
    t2v, i2v = kind_rate("ltx-2.3", "t2v", "1080p"), kind_rate("ltx-2.3", "i2v", "1080p")
    assert f"${8 * t2v:.2f}" in text and f"${8 * i2v:.2f}" in text


async def test_the_run_charges_the_quote_and_a_cap_stop_is_coded(home: Path) -> None:
    """The run's submit checks the cap with what the quote says the segment costs; over it, the
    run stops with an OVER_BUDGET InputError carrying its facts, and no CLI flag in its words."""
    from sora_tui.core.errors import Code, InputError
    from sora_tui.core.run import JobRun

    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    plan = ltx_plan(n=2)
    job = engine.create_job(plan)
    spec = CATALOG.get(plan.model)
    first = costs.quote(plan, CATALOG).segment(1)
    run = JobRun(engine, job, lambda e: None, None, first - 0.01, False)
    seg = engine.store.segment(job.id, 1)
    with pytest.raises(InputError) as err:
        await run.submit(None, seg, None)  # type: ignore[arg-type]  # the cap is checked before any call
    assert err.value.code is Code.OVER_BUDGET
    assert err.value.context["total"] == pytest.approx(plan_segment_cost(plan, spec, 1))
    assert err.value.context["cap"] == pytest.approx(first - 0.01) and err.value.context["index"] == 1
    assert "--max-cost" not in str(err.value)


def takes_plan() -> Plan:
    return Plan.from_dict(
        {"version": 2, "prompt": "a boat", "model": "veo3.1-fast", "resolution": "720p", "aspect": "16:9",
         "audio": False, "segments": [
             {"seconds": 4, "prompt": "a canal"},
             {"seconds": 4, "prompt": "a bridge", "takes": 3},
             {"seconds": 4, "prompt": "the sea"},
         ]}
    )  # fmt: skip


def test_calls_to_pay_counts_each_take_not_stored() -> None:
    assert costs.calls_to_pay(1, False) == 1 and costs.calls_to_pay(1, True) == 0
    assert costs.calls_to_pay(3, False) == 3
    assert costs.calls_to_pay(3, True) == 2  # take 1 is stored: takes 2 and 3 are still to pay
    assert costs.calls_to_pay(3, False, {2, 3}) == 1  # takes 2 and 3 stored: only take 1
    assert costs.calls_to_pay(3, True, {2, 3}) == 0


def test_a_resumed_job_with_takes_counts_each_unpaid_take_once(home: Path) -> None:
    """The budget check of a resumed job: takes already submitted (paid, fetched on resume) are not
    counted again, takes still to render are; the same rule with no job folder counts every take."""
    from sora_tui.core.takes import Take, TakeBook

    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    plan = takes_plan()
    job = engine.create_job(plan)
    each = plan_segment_cost(plan, CATALOG.get(plan.model), 2, catalog=CATALOG)
    third = plan_segment_cost(plan, CATALOG.get(plan.model), 3, catalog=CATALOG)
    engine.store.update_segment(job.id, 1, status=SegmentStatus.DONE, cost_usd=1.0)
    # shot 2: take 1 stored (its row has the request id), take 2 stored in takes.json, take 3 not yet
    engine.store.update_segment(job.id, 2, status=SegmentStatus.SUBMITTED, request_id="r-1")
    book = TakeBook(job.job_dir)
    book.put(2, Take(2, 7, "submitted", request_id="r-2"))
    book.save()
    segs = engine.store.segments(job.id)
    left = costs.remaining_cost(plan, CATALOG, segs, job_dir=job.job_dir)
    assert left.videos_left == 2 and left.videos == pytest.approx(each + third)  # take 3 and shot 3
    # take 1 not stored but takes 2 and 3 are (a stop while take 1 was submitting): only take 1 is left
    engine.store.update_segment(job.id, 2, status=SegmentStatus.PENDING, request_id=None)
    book.put(2, Take(3, 9, "done", file="x.mp4"))
    book.save()
    left = costs.remaining_cost(plan, CATALOG, engine.store.segments(job.id), job_dir=job.job_dir)
    assert left.videos_left == 2 and left.videos == pytest.approx(each + third)
    # without the job's folder nothing is known of takes 2..N: every take of an unfinished shot counts
    left = costs.remaining_cost(plan, CATALOG, engine.store.segments(job.id))
    assert left.videos_left == 4 and left.videos == pytest.approx(3 * each + third)
    # a fresh job: the same as the quote
    fresh = engine.create_job(plan)
    left = costs.remaining_cost(plan, CATALOG, engine.store.segments(fresh.id), job_dir=fresh.job_dir)
    assert left.total == pytest.approx(costs.quote(plan, CATALOG).total)


async def test_a_resume_whose_cap_fits_what_is_left_is_not_refused(home: Path) -> None:
    """The cap check of a resumed run counts a take stored before the stop as paid (no over-count)."""
    from sora_tui.core.run import JobRun
    from sora_tui.core.takes import Take, TakeBook

    engine = Engine(env={"SORA_TUI_HOME": str(home)})
    plan = takes_plan()
    job = engine.create_job(plan)
    each = plan_segment_cost(plan, CATALOG.get(plan.model), 2, catalog=CATALOG)
    total = costs.quote(plan, CATALOG).total
    # takes 2 and 3 of shot 2 were submitted (and charged to its row) before the run stopped
    engine.store.update_segment(job.id, 2, cost_usd=round(2 * each, 4))
    book = TakeBook(job.job_dir)
    book.put(2, Take(2, 7, "submitted", cost_usd=each, request_id="r-2"))
    book.put(2, Take(3, 9, "submitted", cost_usd=each, request_id="r-3"))
    book.save()
    JobRun(engine, job, None, None, total, False).check_budget()  # spent 2 takes + 3 calls left = the quote
    from sora_tui.core.errors import Code, InputError

    with pytest.raises(InputError) as err:
        JobRun(engine, job, None, None, total - 0.01, False).check_budget()
    assert err.value.code is Code.OVER_BUDGET and err.value.context["total"] == pytest.approx(total)
