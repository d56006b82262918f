"""What core/providers/fal.py takes from fal-client beyond its exported API, pinned and checked.

fal-client 1.x exports no way to get its authenticated httpx client or to turn a response into
``FalClientHTTPError``; the provider uses the internals (``AsyncClient._client``,
``client._raise_for_status``) through ``fal_http_client`` and ``raise_for_fal_status``, plus the
module names ``AppId`` and ``USER_AGENT``. pyproject pins fal-client below 2; these tests fail,
naming what changed, when an upgrade moves or changes any of them.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import fal_client
import fal_client.client as fal_impl
import httpx
import pytest

from sora_tui.core.providers.fal import _app_base, fal_http_client, raise_for_fal_status

ROOT = Path(__file__).resolve().parents[1]


def test_installed_fal_client_is_the_pinned_major() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pin = next(d for d in deps if d.startswith("fal-client"))
    upper = re.search(r"<\s*(\d+)", pin)
    assert upper, f"fal-client must be pinned below its next major version ({pin!r}): fal.py uses its internals"
    assert int(fal_client.version_tuple[0]) < int(upper.group(1)), (fal_client.__version__, pin)


def test_the_internals_fal_py_uses_are_there() -> None:
    missing = [
        name
        for owner, name in [
            (fal_impl, "_raise_for_status"),
            (fal_impl, "USER_AGENT"),
            (fal_impl, "AppId"),
            (fal_client.AsyncClient, "_client"),
        ]
        if not hasattr(owner, name)
    ]
    assert not missing, f"fal-client {fal_client.__version__} no longer has {missing}: update core/providers/fal.py"


async def test_the_authenticated_client_sends_the_key_and_user_agent() -> None:
    fal = fal_client.AsyncClient(key="k-123", default_timeout=7.0)
    client = await fal_http_client(fal)
    try:
        assert isinstance(client, httpx.AsyncClient)
        assert client.headers["Authorization"] == "Key k-123"
        assert client.headers["User-Agent"] == fal_impl.USER_AGENT
        assert client.timeout.read == 7.0
        assert await fal_http_client(fal) is client  # one client per AsyncClient: the provider keeps it
    finally:
        await client.aclose()


def _response(
    status: int, *, json: object = None, text: str | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.Response(
        status, request=httpx.Request("POST", "http://fal.test/fal-ai/x"), json=json, text=text, headers=headers
    )


def test_error_responses_become_fal_client_http_errors() -> None:
    raise_for_fal_status(_response(200, json={"request_id": "r"}))  # success: nothing raised

    detail = [{"loc": ["body", "prompt"], "msg": "flagged", "type": "content_policy_violation"}]
    with pytest.raises(fal_client.FalClientHTTPError) as info:
        raise_for_fal_status(_response(422, json={"detail": detail, "error_type": "content_policy_violation"}))
    err = info.value
    message: object = err.message  # typed str by fal-client; a 422's detail list comes through as it is
    assert (err.status_code, message, err.error_type) == (422, detail, "content_policy_violation")
    assert err.response is not None and err.response.status_code == 422

    with pytest.raises(fal_client.FalClientHTTPError) as info:  # error type from the header, text body
        raise_for_fal_status(_response(429, text="slow down", headers={"x-fal-error-type": "rate_limited"}))
    assert (info.value.status_code, info.value.message, info.value.error_type) == (429, "slow down", "rate_limited")


@pytest.mark.parametrize(
    ("endpoint", "base"),
    [
        ("fal-ai/veo3.1/fast", "Q/fal-ai/veo3.1/requests/R"),
        ("fal-ai/kling-video/v3/pro/image-to-video", "Q/fal-ai/kling-video/requests/R"),
        ("bytedance/seedance-2.0/fast/text-to-video", "Q/bytedance/seedance-2.0/requests/R"),
    ],
)
def test_app_ids_are_derived_as_fal_client_does(endpoint: str, base: str) -> None:
    assert _app_base("Q", endpoint, "R") == base
