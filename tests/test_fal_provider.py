"""FalProvider against the wire-level fal fake, through the real fal-client and httpx."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import fal_client.client as fal_impl
import pytest

from fakes.fal_server import FalFake
from sora_tui.core import media
from sora_tui.core.catalog import load_catalog
from sora_tui.core.models import Kind
from sora_tui.core.providers.base import (
    AuthError,
    BadResult,
    ContentPolicyError,
    ImageRequest,
    ModelUnavailable,
    ProviderError,
    ProviderStatus,
    RenderRequest,
    RenderResult,
    RequestNotFound,
    Submission,
    TransientError,
)
from sora_tui.core.providers.fal import FalProvider
from sora_tui.core.providers.preview import render_image
from sora_tui.core.settings import Settings

CATALOG = load_catalog()


def make_provider(fake: FalFake, key: str | None = None, **overrides: Any) -> FalProvider:
    settings = Settings(
        fal_queue_url=fake.url,
        fal_rest_url=fake.url,
        fal_cdn_url=fake.url,
        retry_base_delay=0.01,
        poll_interval=0.02,
        **overrides,
    )
    return FalProvider(key or fake.key, settings)


def request(kind: Kind = Kind.T2V, model: str = "veo3.1-fast", **kw: Any) -> RenderRequest:
    spec = kw.pop("spec", None) or CATALOG.get(model)
    base: dict[str, Any] = dict(
        model=spec, kind=kind, prompt="A red fox trots through fresh snow", seconds=4, resolution="720p",
        aspect="16:9", audio=False, width=1280, height=720, fps=24, label="segment 1 of 3",
    )  # fmt: skip
    base.update(kw)
    return RenderRequest(**base)


@pytest.fixture
def image(tmp_path: Path) -> Path:
    return render_image("a start frame", 128, 72, tmp_path / "start.png")


@pytest.fixture
async def provider(fal_fake: FalFake) -> AsyncIterator[FalProvider]:
    p = make_provider(fal_fake)
    yield p
    await p.aclose()


async def finish(p: FalProvider, sub: Submission) -> list[ProviderStatus]:
    states = []
    for _ in range(500):
        st = await p.status(sub)
        states.append(st)
        if st.state == "completed":
            return states
        await asyncio.sleep(0.02)
    raise AssertionError("never completed")


# --- happy paths ------------------------------------------------------------------------


async def test_t2v_submit_body_urls_and_auth(fal_fake: FalFake, provider: FalProvider) -> None:
    sub = await provider.submit(request())
    (rec,) = fal_fake.submits
    assert rec.path == "/fal-ai/veo3.1/fast"
    assert rec.headers["authorization"] == f"Key {fal_fake.key}"
    assert rec.json == {
        "prompt": "A red fox trots through fresh snow",
        "duration": "4s",
        "resolution": "720p",
        "aspect_ratio": "16:9",
        "generate_audio": False,
    }
    # fal-client's URL scheme: the app id is the first two parts of the endpoint id
    base = f"{fal_fake.url}/fal-ai/veo3.1/requests/{sub.request_id}"
    assert (sub.endpoint, sub.response_url, sub.status_url, sub.cancel_url) == (
        "fal-ai/veo3.1/fast", base, base + "/status", base + "/cancel",
    )  # fmt: skip
    # fal-client's module constants were not touched
    assert fal_impl.QUEUE_URL_FORMAT.startswith("https://") and fal_impl.CDN_URL.startswith("https://")


async def test_status_queue_running_completed_then_result_and_download(
    fal_fake: FalFake, provider: FalProvider, tmp_path: Path
) -> None:
    fal_fake.hold = True  # queued until the test lets it run, rendering until the test says it is done
    sub = await provider.submit(request(audio=True))
    queued = await provider.status(sub)
    assert queued.state == "queued" and queued.queue_position == 0
    fal_fake.requests[sub.request_id].run_time = 3600.0
    fal_fake.release()
    running = await provider.status(sub)
    assert running.state == "running" and running.logs == ["Starting generation"]
    fal_fake.requests[sub.request_id].run_time = 0.0
    assert [s.state for s in await finish(provider, sub)] == ["completed"]
    status_calls = fal_fake.of("status")
    assert all(r.query.get("logs") == ["1"] for r in status_calls)
    result = await provider.result(sub)
    assert result.video_url.startswith(fal_fake.url + "/files/") and result.raw["video"]["content_type"] == "video/mp4"
    seen: list[tuple[int, int | None]] = []
    dest = tmp_path / "seg_01.mp4"
    await provider.download(result, dest, lambda d, t: seen.append((d, t)))
    info = media.probe(dest)
    assert abs(info.duration - 4) < 0.2 and info.has_audio
    assert seen[-1][0] == seen[-1][1] == dest.stat().st_size
    assert not list(tmp_path.glob(".*.part"))
    # no key goes to the file host
    assert all("authorization" not in r.headers for r in fal_fake.of("file"))


async def test_i2v_uploads_the_start_frame_through_fal_storage(
    fal_fake: FalFake, provider: FalProvider, image: Path
) -> None:
    sub = await provider.submit(request(Kind.I2V, start_image=image))
    (token,) = fal_fake.of("token")
    assert token.query == {"storage_type": ["fal-cdn-v3"]}
    assert token.headers["authorization"] == f"Key {fal_fake.key}"
    (upload,) = fal_fake.of("upload")
    assert upload.body == image.read_bytes()
    assert upload.headers["authorization"].startswith("Bearer ") and upload.headers["content-type"] == "image/png"
    body = fal_fake.submits[0].json
    assert fal_fake.submits[0].path == "/fal-ai/veo3.1/fast/image-to-video"
    assert body["image_url"].startswith(fal_fake.url + "/files/u/")
    await finish(provider, sub)
    # the same bytes are uploaded once (a retried submit reuses the URL; the token is cached)
    await provider.submit(request(Kind.I2V, start_image=image))
    assert len(fal_fake.uploads) == 1 and len(fal_fake.of("token")) == 1


async def test_i2v_video_starts_on_the_uploaded_image(
    fal_fake: FalFake, provider: FalProvider, image: Path, tmp_path: Path
) -> None:
    sub = await provider.submit(request(Kind.I2V, start_image=image))
    await finish(provider, sub)
    dest = tmp_path / "v.mp4"
    await provider.download(await provider.result(sub), dest)
    assert media.psnr(image, media.read_first_frame(dest)) > 35


async def test_flf2v_maps_fields_from_the_catalog(
    fal_fake: FalFake, provider: FalProvider, image: Path, tmp_path: Path
) -> None:
    end = render_image("an end frame", 128, 72, tmp_path / "end.png")
    await provider.submit(request(Kind.FLF2V, start_image=image, end_image=end))
    body = fal_fake.submits[0].json
    assert fal_fake.submits[0].path == "/fal-ai/veo3.1/fast/first-last-frame-to-video"
    assert {"first_frame_url", "last_frame_url"} <= set(body) and "image_url" not in body
    # LTX names them differently; the provider reads the names from the catalog
    ltx = CATALOG.get("ltx-2.3")
    await provider.submit(
        request(Kind.FLF2V, spec=ltx, seconds=6, resolution="1080p", start_image=image, end_image=end)
    )
    body = fal_fake.submits[1].json
    assert fal_fake.submits[1].path == "/fal-ai/ltx-2.3/image-to-video"
    assert {"image_url", "end_image_url"} <= set(body) and body["duration"] == 6
    assert fal_fake.uploads == [image.read_bytes(), end.read_bytes()]


async def test_data_uri_only_where_the_catalog_says_so(fal_fake: FalFake, provider: FalProvider, image: Path) -> None:
    spec = dataclasses.replace(CATALOG.get("veo3.1-fast"), data_uri=True)
    await provider.submit(request(Kind.I2V, spec=spec, start_image=image))
    assert fal_fake.submits[0].json["image_url"].startswith("data:image/png;base64,")
    assert fal_fake.of("upload") == []


async def test_kling_duration_is_a_string_and_silent_models_send_no_audio_field(
    fal_fake: FalFake, provider: FalProvider, image: Path
) -> None:
    kling = CATALOG.get("kling-2.5-turbo")
    await provider.submit(request(Kind.I2V, spec=kling, seconds=5, resolution="1080p", start_image=image))
    body = fal_fake.submits[0].json
    assert body["duration"] == "5" and "generate_audio" not in body and "resolution" not in body


async def test_cancel(fal_fake: FalFake, provider: FalProvider) -> None:
    fal_fake.queue_time = 5
    sub = await provider.submit(request())
    await provider.cancel(sub)
    (rec,) = fal_fake.of("cancel")
    assert rec.method == "PUT" and rec.path.endswith(f"/requests/{sub.request_id}/cancel")


# --- faults -------------------------------------------------------------------------------


async def test_401_is_auth_error_without_the_key(fal_fake: FalFake) -> None:
    p = make_provider(fal_fake, key="wrong-fal-key-0123456789")
    with pytest.raises(AuthError) as err:
        await p.submit(request())
    text = str(err.value)
    assert "sora-tui keys set fal" in text and "FAL_KEY" in text and "wrong-fal-key-0123456789" not in text
    assert err.value.status_code == 401
    await p.aclose()


async def test_401_on_upload_token(fal_fake: FalFake, provider: FalProvider, image: Path) -> None:
    fal_fake.reject_key = True
    with pytest.raises(AuthError):
        await provider.submit(request(Kind.I2V, start_image=image))
    assert fal_fake.submits == []


async def test_404_on_submit_names_the_endpoint(fal_fake: FalFake, provider: FalProvider) -> None:
    fal_fake.unknown_endpoints = {"fal-ai/veo3.1/fast"}
    with pytest.raises(ModelUnavailable, match=r"fal-ai/veo3\.1/fast"):
        await provider.submit(request())


async def test_content_policy_on_result(fal_fake: FalFake, provider: FalProvider) -> None:
    fal_fake.content_policy = "FORBIDDEN"
    sub = await provider.submit(request(prompt="A FORBIDDEN scene"))
    await finish(provider, sub)
    with pytest.raises(ContentPolicyError, match="flagged by a content checker"):
        await provider.result(sub)


async def test_content_policy_on_submit(fal_fake: FalFake, provider: FalProvider) -> None:
    fal_fake.content_policy, fal_fake.policy_on_submit = 1, True
    with pytest.raises(ContentPolicyError, match="content checker"):
        await provider.submit(request())


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503])
async def test_retryable_statuses_are_transient(fal_fake: FalFake, provider: FalProvider, status: int) -> None:
    fal_fake.fail_next("submit", status)
    with pytest.raises(TransientError) as err:
        await provider.submit(request())
    assert err.value.retryable and err.value.status_code == status
    assert len(fal_fake.of("submit")) == 1  # one layer of retries: the pipeline's, not fal-client's
    await provider.submit(request())  # and the next call goes through
    assert len(fal_fake.submits) == 1


async def test_other_4xx_is_a_provider_error_with_the_servers_message(fal_fake: FalFake, provider: FalProvider) -> None:
    fal_fake.fail_next("submit", 400, body={"detail": "Prompt is too long"})
    with pytest.raises(ProviderError, match="Prompt is too long") as err:
        await provider.submit(request())
    assert not err.value.retryable and not isinstance(err.value, (AuthError, ModelUnavailable, RequestNotFound))


async def test_schema_validation_error_lists_the_field(fal_fake: FalFake, provider: FalProvider) -> None:
    spec = dataclasses.replace(CATALOG.get("veo3.1-fast"), duration_format="int")  # veo wants "4s"
    with pytest.raises(ProviderError, match=r"duration: Input should be") as err:
        await provider.submit(request(spec=spec))
    assert err.value.status_code == 422 and not isinstance(err.value, ContentPolicyError)


async def test_malformed_json_is_transient(fal_fake: FalFake, provider: FalProvider) -> None:
    sub = await provider.submit(request())
    fal_fake.malformed_next("status")
    with pytest.raises(TransientError, match="malformed JSON"):
        await provider.status(sub)
    await finish(provider, sub)


async def test_result_without_video_is_bad_result(fal_fake: FalFake, provider: FalProvider) -> None:
    fal_fake.no_video = 1
    sub = await provider.submit(request())
    await finish(provider, sub)
    with pytest.raises(BadResult, match=r"no video URL in the result .* \(it has: seed, video\)"):
        await provider.result(sub)


async def test_completed_with_error(fal_fake: FalFake, provider: FalProvider) -> None:
    fal_fake.completed_error = 1
    sub = await provider.submit(request())
    with pytest.raises(ProviderError, match="failed: Internal error"):
        await finish(provider, sub)


async def test_forgotten_request_is_request_not_found_only_on_404(fal_fake: FalFake, provider: FalProvider) -> None:
    sub = await provider.submit(request())
    fal_fake.fail_next("status", 500)
    with pytest.raises(TransientError):
        await provider.status(sub)
    fal_fake.forget()
    with pytest.raises(RequestNotFound, match=sub.request_id):
        await provider.status(sub)
    with pytest.raises(RequestNotFound):
        await provider.result(sub)
    with pytest.raises(RequestNotFound):
        await provider.cancel(sub)


async def test_connection_refused_and_timeouts_are_transient(fal_fake: FalFake) -> None:
    p = make_provider(fal_fake, request_timeout=0.3)
    fal_fake.submit_delay = 1.0
    with pytest.raises(TransientError, match="timed out"):
        await p.submit(request())
    fal_fake.submit_delay = 0
    url = fal_fake.url
    fal_fake.stop()
    p2 = FalProvider(fal_fake.key, Settings(fal_queue_url=url, fal_rest_url=url, fal_cdn_url=url))
    with pytest.raises(TransientError, match="connection problem"):
        await p2.submit(request())
    await p.aclose()
    await p2.aclose()


# --- downloads ------------------------------------------------------------------------------


async def _completed(fal_fake: FalFake, provider: FalProvider) -> RenderResult:
    sub = await provider.submit(request())
    await finish(provider, sub)
    return await provider.result(sub)


async def test_dropped_download_resumes_with_range(fal_fake: FalFake, provider: FalProvider, tmp_path: Path) -> None:
    result = await _completed(fal_fake, provider)
    fal_fake.drop_downloads = 1
    dest = tmp_path / "seg.mp4"
    await provider.download(result, dest)
    files = fal_fake.of("file")
    assert len(files) == 2 and "range" not in files[0].headers and files[1].headers["range"].startswith("bytes=")
    assert files[1].status == 206
    name = result.video_url.split("/files/", 1)[1]
    assert dest.read_bytes() == fal_fake.files[name][0]


async def test_download_that_keeps_failing_is_transient_then_resumes(
    fal_fake: FalFake, provider: FalProvider, tmp_path: Path
) -> None:
    result = await _completed(fal_fake, provider)
    fal_fake.drop_downloads = 10
    dest = tmp_path / "seg.mp4"
    with pytest.raises(TransientError, match="kept failing"):
        await provider.download(result, dest)
    assert not dest.exists() and list(tmp_path.glob(".seg.mp4.*.part"))
    fal_fake.drop_downloads = 0
    await provider.download(result, dest)  # the pipeline's retry: resumes from the part file
    assert fal_fake.of("file")[-1].headers.get("range")
    assert media.probe(dest).duration > 3.5


async def test_slow_download_reports_progress(fal_fake: FalFake, provider: FalProvider, tmp_path: Path) -> None:
    result = await _completed(fal_fake, provider)
    fal_fake.chunk_size, fal_fake.download_delay = 4096, 0.002
    seen: list[tuple[int, int | None]] = []
    await provider.download(result, tmp_path / "seg.mp4", lambda d, t: seen.append((d, t)))
    assert len(seen) > 3 and all(t == seen[-1][1] for _, t in seen) and seen[-1][0] == seen[-1][1]


async def test_expired_video_url_is_bad_result(fal_fake: FalFake, provider: FalProvider, tmp_path: Path) -> None:
    result = await _completed(fal_fake, provider)
    fal_fake.files.clear()
    with pytest.raises(BadResult, match="expired"):
        await provider.download(result, tmp_path / "seg.mp4")


# --- images (keyframes) -----------------------------------------------------------------------


async def test_generate_image_t2i_and_edit(fal_fake: FalFake, provider: FalProvider, tmp_path: Path) -> None:
    first = tmp_path / "kf_00.png"
    await provider.generate_image(ImageRequest("fal-ai/nano-banana-2", "a lighthouse", 1280, 720, "16:9"), first)
    assert media.read_image(first).shape == (72, 128, 3)
    body = fal_fake.submits[0].json
    assert body == {"prompt": "a lighthouse", "num_images": 1, "output_format": "png", "aspect_ratio": "16:9"}
    second = tmp_path / "kf_01.png"
    await provider.generate_image(
        ImageRequest("fal-ai/nano-banana-2/edit", "the lighthouse at night", 1280, 720, "16:9", source=first), second
    )
    edit = fal_fake.submits[1]
    assert edit.path == "/fal-ai/nano-banana-2/edit" and len(edit.json["image_urls"]) == 1
    assert fal_fake.uploads == [first.read_bytes()]
    assert second.exists() and second.read_bytes() != first.read_bytes()


async def test_generate_image_fails_fast(fal_fake: FalFake, tmp_path: Path) -> None:
    p = make_provider(fal_fake, key="bad-key-000000000000")
    with pytest.raises(AuthError):
        await asyncio.wait_for(
            p.generate_image(ImageRequest("fal-ai/nano-banana-2", "x", 64, 64, "1:1"), tmp_path / "k.png"), 5
        )
    await p.aclose()
    fal_fake.no_video = None
    fal_fake.fail_next(
        "result", 422, body={"detail": [{"loc": ["body"], "msg": "bad", "type": "content_policy_violation"}]}
    )
    p = make_provider(fal_fake)
    with pytest.raises(ContentPolicyError):
        await p.generate_image(ImageRequest("fal-ai/nano-banana-2", "x", 64, 64, "1:1"), tmp_path / "k.png")
    await p.aclose()


async def test_provider_works_across_event_loops(fal_fake: FalFake) -> None:
    """A provider reused on a new loop (a second asyncio.run) makes fresh clients."""
    p = make_provider(fal_fake)
    await p.submit(request())
    loop_clients = p._http
    p._loop = object()  # type: ignore[assignment]  # as if another loop had been running
    await p.submit(request())
    assert p._http is not loop_clients and len(fal_fake.submits) == 2
    await p.aclose()
