"""What the job machinery needs of the engine, as a protocol: the engine facade (``engine.Engine``)
is the one implementation; the runs (``run``), the retry policy, the queue, the scheduler, the
runner tasks and the finishing stage take an ``EngineServices`` and never import ``engine``.

So the layers read one way: front ends and process entry points → ``engine`` → job machinery →
media, providers, store and rules. ``Engine`` satisfies this protocol (mypy checks it wherever an
engine is handed down, e.g. ``JobRun(engine, ...)``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from .catalog import Catalog, ModelSpec
from .models import Event, Job, Plan, Request, SeamSettings
from .providers.base import Provider
from .settings import Paths, Settings
from .store import Store


class EngineServices(Protocol):
    """The engine's state and calls that a run, a queue, a task or the finishing stage uses."""

    env: dict[str, str]
    paths: Paths
    settings: Settings
    catalog: Catalog
    store: Store

    def find_job(self, ref: str) -> Job: ...

    def check_idle(self, job: Job) -> None: ...

    def check_render_key(self, model: str, quick: bool = False) -> None: ...

    def provider(self, spec: ModelSpec) -> Provider: ...

    def existing_provider(self, name: str) -> Provider | None: ...

    def keyframe_path(self, job: Job, index: int) -> Path: ...

    def reset_keyframes(self, job_id: str, plan: Plan) -> None: ...

    def update_plan(self, job_id: str, plan: Plan) -> Job: ...

    def load_plan_file(self, path: str | Path, job_dir: Path | None = None) -> Plan: ...

    async def regenerate_keyframe(
        self, job_id: str, index: int, prompt: str | None = None, on_event: Callable[[Event], None] | None = None
    ) -> Path: ...

    def redact(self, text: str) -> str: ...

    def log(self, job_id: str, message: str, level: str = "info", index: int | None = None) -> str: ...

    def start_queue(self) -> int | None: ...

    async def aclose(self) -> None: ...


class PlanningServices(EngineServices, Protocol):
    """And what planning from outside a run uses (batch files): resolve, plan, estimate."""

    def default_model(self) -> str: ...

    def resolve(self, req: Request) -> Request: ...

    async def plan(self, req: Request) -> Plan: ...

    def estimate(self, plan: Plan) -> float: ...

    def default_seam_settings(self) -> SeamSettings: ...

    def check_reference_image(self, path: str | Path) -> str: ...
