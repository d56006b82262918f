"""Media benchmarks: joining segments and the segment-to-segment hand-off.

``bench_join(workdir)`` renders 4 x 8 s 720p preview segments and compares our
``join.join_files`` with its floor on the same inputs, measured in the same run (``join_floor``: the
video stream-copied and the joined sound encoded once, as the join must), with a bare ffmpeg concat
stream copy (for reference: the join re-encodes the sound for sync, so this is no longer its floor)
and with the MoviePy re-encode the original Sora Extend notebook used. ``bench_handoff(workdir)`` times "segment file on
disk" -> "last frame PNG ready". Both return a dict of figures; ``python
bench/bench_media.py`` prints them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from sora_tui.core import media
from sora_tui.core.catalog import frame_size, load_catalog
from sora_tui.core.models import Kind
from sora_tui.core.providers.base import RenderRequest
from sora_tui.core.providers.preview import render_video

PROMPTS = [
    "A red fox trots through a snowy birch forest at dawn",
    "The fox stops at a frozen stream and looks up at a raven",
    "The raven takes off over the trees into a pink sky",
    "Wide shot of the forest as the sun rises over the hills",
]


def _request(prompt: str, kind: Kind = Kind.T2V, start: Path | None = None, res: str = "720p", seconds: int = 8):
    spec = load_catalog().get("preview")
    w, h = frame_size(res, "16:9")
    return RenderRequest(
        model=spec, kind=kind, prompt=prompt, seconds=seconds, resolution=res, aspect="16:9", audio=True,
        width=w, height=h, fps=24, start_image=start,
    )  # fmt: skip


def render_segments(workdir: Path, n: int = 4, res: str = "720p", seconds: int = 8) -> tuple[list[Path], list[float]]:
    """A chained set of preview segments (t2v, then i2v from each last frame) and each render time."""
    workdir.mkdir(parents=True, exist_ok=True)
    files, times = [], []
    start = None
    for i in range(n):
        seg = workdir / f"seg_{i + 1:02d}.mp4"
        kind = Kind.T2V if start is None else Kind.I2V
        t = time.perf_counter()
        render_video(_request(PROMPTS[i % len(PROMPTS)], kind, start, res, seconds), seg)
        times.append(time.perf_counter() - t)
        start = media.last_frame(seg, workdir / f"seg_{i + 1:02d}_last.png")
        files.append(seg)
    return files, times


def _in_subprocess(code: str) -> dict:
    """Run code in a fresh interpreter (so RUSAGE_CHILDREN only sees its own ffmpeg children)."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _join_ours(files: list[Path], dest: Path) -> dict:
    code = f"""
        import json, resource, time
        from sora_tui.core import join
        files = {[str(f) for f in files]!r}
        t = time.perf_counter()
        res = join.join_files(files, {str(dest)!r})  # cold: first call imports and resolves ffmpeg
        cold = time.perf_counter() - t
        wall = float("inf")
        for _ in range(3):  # warm, as in a running app: best of 3
            t = time.perf_counter()
            res = join.join_files(files, {str(dest)!r})
            wall = min(wall, time.perf_counter() - t)
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        out = {{"wall_s": wall, "cold_wall_s": cold, "peak_rss_mb": rss, "method": res.method, "duration": res.duration}}
        print(json.dumps(out))
    """
    return _in_subprocess(code)


def _join_moviepy(files: list[Path], dest: Path) -> dict:
    code = f"""
        import json, resource, time
        from moviepy import VideoFileClip, concatenate_videoclips
        files = {[str(f) for f in files]!r}
        t = time.perf_counter()
        clips = [VideoFileClip(f) for f in files]
        final = concatenate_videoclips(clips, method="compose")
        final.write_videofile({str(dest)!r}, codec="libx264", audio_codec="aac", preset="medium", logger=None)
        for c in clips:
            c.close()
        wall = time.perf_counter() - t
        self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(json.dumps({{"wall_s": wall, "python_rss_mb": self_rss, "ffmpeg_rss_mb": child_rss}}))
    """
    return _in_subprocess(code)


def join_floor(files: list[Path], dest: Path, folder: Path, repeats: int = 3) -> float:
    """The floor of a join of ``files``: what no join of them can beat, measured now on the same
    inputs. The join copies the video and re-encodes the whole sound once (for sync), so the floor
    is one ffmpeg that stream-copies the concatenated video and encodes the concatenated sound once,
    at the join's AAC settings, with +faststart as the join writes. Best of ``repeats`` (as the join)."""
    from sora_tui.core import join

    lst = folder / "floor.txt"
    lst.write_text("".join(f"file '{f.absolute()}'\n" for f in files))
    info = media.probe(files[0], count_frames=False)
    args = ["-f", "concat", "-safe", "0", "-i", str(lst), "-map", "0:v:0", "-c:v", "copy"]
    if info.has_audio:
        args += ["-map", "0:a:0", "-c:a", "aac", "-aac_coder", "fast", "-b:a", str(2 * join.AUDIO_BITRATE_PER_CHANNEL)]
    cmd = [media.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args, "-movflags", "+faststart", str(dest)]
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run(cmd, check=True)
        best = min(best, time.perf_counter() - t)
    return best


def bench_join(workdir: Path, moviepy: bool = True) -> dict:
    """Join 4 x 8 s 720p preview segments three ways; figures and ratios."""
    workdir = Path(workdir)
    files, render_times = render_segments(workdir / "segments")
    total = sum(media.probe(f).duration for f in files)

    ours = _join_ours(files, workdir / "final_ours.mp4")
    ours_info = media.probe(workdir / "final_ours.mp4")

    list_file = workdir / "list.txt"
    list_file.write_text("".join(f"file '{f.absolute()}'\n" for f in files))
    cmd = [media.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0",
           "-i", str(list_file), "-c", "copy", str(workdir / "final_bare.mp4")]  # fmt: skip
    bare = _in_subprocess(
        f"""
        import json, resource, subprocess, time
        t = time.perf_counter()
        subprocess.run({cmd!r}, check=True)
        wall = time.perf_counter() - t
        print(json.dumps({{"wall_s": wall, "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}}))
        """
    )
    bare_wall, bare_rss = bare["wall_s"], bare["peak_rss_mb"]
    floor = join_floor(files, workdir / "final_floor.mp4", workdir)  # same inputs, same run

    result = {
        "segments": len(files),
        "segment_seconds": 8,
        "resolution": "720p",
        "total_video_s": round(total, 3),
        "preview_render_720p_8s_s": [round(t, 3) for t in render_times],
        "join_method": ours["method"],
        "join_wall_s": round(ours["wall_s"], 4),
        "join_cold_wall_s": round(ours["cold_wall_s"], 4),
        "peak_rss_mb": round(ours["peak_rss_mb"], 1),  # of the join's ffmpeg processes
        "join_output_duration_s": round(ours_info.duration, 3),
        "bare_copy_wall_s": round(bare_wall, 4),
        "bare_copy_peak_rss_mb": round(bare_rss, 1),
        "ratio_vs_bare_copy": round(ours["wall_s"] / bare_wall, 2),  # kept for reference (no longer the floor)
        "floor_wall_s": round(floor, 4),
        "ratio_vs_floor": round(ours["wall_s"] / floor, 2),
    }
    if moviepy:
        mp = _join_moviepy(files, workdir / "final_moviepy.mp4")
        result.update(
            {
                "moviepy_wall_s": round(mp["wall_s"], 2),
                "moviepy_python_rss_mb": round(mp["python_rss_mb"], 1),
                "moviepy_ffmpeg_rss_mb": round(mp["ffmpeg_rss_mb"], 1),
                "speedup_vs_moviepy": round(mp["wall_s"] / ours["wall_s"], 1),
            }
        )
    result["targets"] = {"speedup_vs_moviepy": ">= 100", "ratio_vs_floor": "<= 1.3", "peak_rss_mb": "< 100"}
    return result


def bench_handoff(workdir: Path, repeats: int = 5) -> dict:
    """Time from a downloaded 720p 8 s segment to its last-frame PNG (probe + decode + PNG write)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    seg = workdir / "seg.mp4"
    render_video(_request(PROMPTS[0]), seg)
    # worst case for hosted models: one GOP for the whole clip (decode from frame 0)
    long_gop = workdir / "seg_long_gop.mp4"
    subprocess.run(
        [media.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(seg), "-c:v", "libx264",
         "-preset", "veryfast", "-crf", "18", "-g", "1000", "-c:a", "copy", str(long_gop)],
        check=True,
    )  # fmt: skip
    media.last_frame(seg, workdir / "warm.png")  # imports and page cache

    def timeit(path: Path) -> float:
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            media.last_frame(path, workdir / "last.png")
            best = min(best, time.perf_counter() - t)
        return best

    t_probe = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        media.probe(seg)
        t_probe = min(t_probe, time.perf_counter() - t)
    return {
        "handoff_preview_720p_8s_s": round(timeit(seg), 4),
        "handoff_single_gop_720p_8s_s": round(timeit(long_gop), 4),
        "probe_720p_8s_s": round(t_probe, 4),
        "target": "<= 1 s",
    }


def bench_render() -> dict:
    """Preview render times (warm): 720p 8 s and 360p 4 s."""
    with tempfile.TemporaryDirectory() as d:
        render_video(_request("warm up", res="180p", seconds=1), Path(d) / "w.mp4")
        out = {}
        for res, secs in (("720p", 8), ("360p", 4)):
            t = time.perf_counter()
            render_video(_request(PROMPTS[1], res=res, seconds=secs), Path(d) / "r.mp4")
            out[f"preview_render_{res}_{secs}s_s"] = round(time.perf_counter() - t, 3)
        return out


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        figures = {
            "render": bench_render(),
            "handoff": bench_handoff(Path(tmp) / "h"),
            "join": bench_join(Path(tmp) / "j"),
        }
    print(json.dumps(figures, indent=2))
