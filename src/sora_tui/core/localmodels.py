"""Local (open-weights) models: where each model's diffusers folder is, whether it is whole, and the
frame and size rules of a model's ``[models.ID.local]`` catalog table.

Nothing here imports torch or diffusers: a folder is checked by reading its ``model_index.json``
and listing its files, so ``sora-tui models local add`` is quick and works before the extra is
installed. Folders are recorded in ``<config>/local_models.toml`` (``[folders] ID = "PATH"``);
the setting ``local_models_dir`` names a folder whose sub-folder ``<ID>`` is used for any model
that has no entry of its own.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import Code
from .models import InputError, Kind

if TYPE_CHECKING:
    from .catalog import Catalog, ModelSpec
    from .settings import Paths, Settings

REGISTRY_NAME = "local_models.toml"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
# what a component folder of each kind must hold besides weights (a config the loader reads)
CONFIG_NAMES = ("config.json", "scheduler_config.json", "tokenizer_config.json", "preprocessor_config.json")


class LocalModelError(InputError):
    """A local model cannot be used as it is (its folder, the extra, the device): says what to do."""


# --- the catalog's local table ------------------------------------------------------


@dataclass(frozen=True)
class LocalSpec:
    """The ``[models.ID.local]`` table of a catalog entry, with its defaults."""

    pipeline: str  # the class named by the folder's model_index.json (_class_name)
    family: str  # how a call is made: "wan" (image=, last_image=) or "ltx" (conditions=)
    kind_pipelines: dict[str, str]  # a kind served by another class built from the same components
    frame_multiple: int  # frames are k * frame_multiple + 1 (Wan 4, LTX 8)
    max_frames: int
    size_multiple: int  # width and height are multiples of this
    sizes: dict[str, str]  # resolution (or "resolution:aspect") -> "WxH"
    steps: int
    guidance: float
    memory_gb: float  # GPU memory the model needs on the device without offload
    negative_prompt: str
    repo: str  # where the weights come from (for the message that says how to get them)
    max_sequence_length: int

    @classmethod
    def of(cls, spec: ModelSpec) -> LocalSpec:
        raw: dict[str, Any] = dict(spec.local)
        if spec.provider != "local" or not raw.get("pipeline"):
            raise LocalModelError("model", f"{spec.id} is not a local model (no [models.{spec.id}.local] pipeline)")
        return cls(
            pipeline=str(raw["pipeline"]),
            family=str(raw.get("family", "wan")),
            kind_pipelines={str(k): str(v) for k, v in dict(raw.get("kind_pipelines", {})).items()},
            frame_multiple=int(raw.get("frame_multiple", 4)),
            max_frames=int(raw.get("max_frames", 121)),
            size_multiple=int(raw.get("size_multiple", 16)),
            sizes={str(k): str(v) for k, v in dict(raw.get("sizes", {})).items()},
            steps=int(raw.get("steps", 30)),
            guidance=float(raw.get("guidance", 5.0)),
            memory_gb=float(raw.get("memory_gb", 0.0)),
            negative_prompt=str(raw.get("negative_prompt", "")),
            repo=str(raw.get("repo", "")),
            max_sequence_length=int(raw.get("max_sequence_length", 512)),
        )

    def pipeline_for(self, kind: Kind) -> str:
        return self.kind_pipelines.get(str(kind), self.pipeline)

    def frames(self, seconds: float, fps: int) -> int:
        """Frames rendered for ``seconds`` at ``fps``: the smallest k*m+1 that covers them, capped at max_frames."""
        return frame_count(seconds, fps, self.frame_multiple, self.max_frames)

    def size(self, resolution: str, aspect: str, width: int, height: int) -> tuple[int, int]:
        """(width, height) the model renders: the table's size for the resolution, else the
        planned size rounded to the model's multiple."""
        for key in (f"{resolution}:{aspect}", resolution):
            if key in self.sizes:
                w, _, h = self.sizes[key].lower().partition("x")
                return int(w), int(h)
        m = self.size_multiple
        return max(m, round(width / m) * m), max(m, round(height / m) * m)

    def download_hint(self, path: Path | str) -> str:
        if not self.repo:
            return f"put the model's diffusers folder (with model_index.json) at {path}"
        return f"get it with `hf download {self.repo} --local-dir {path}`"


def frame_count(seconds: float, fps: int, multiple: int, max_frames: int) -> int:
    """The frame rule of a video model: k*multiple + 1 frames covering ``seconds * fps``, at most ``max_frames``."""
    wanted = max(1, int(math.ceil(seconds * fps - 1e-9)))
    k = max(1, math.ceil((wanted - 1) / multiple))
    cap = max(1, (max_frames - 1) // multiple)
    return min(k, cap) * multiple + 1


# --- the registry of folders ----------------------------------------------------------


def registry_file(paths: Paths) -> Path:
    return paths.config_dir / REGISTRY_NAME


def load_folders(paths: Paths) -> dict[str, Path]:
    """The folders recorded with ``sora-tui models local add`` (model id -> folder)."""
    file = registry_file(paths)
    if not file.exists():
        return {}
    try:
        raw = tomllib.loads(file.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(str(file), f"cannot read the local model folders: {exc}; fix or delete the file") from None
    return {str(k): Path(str(v)) for k, v in dict(raw.get("folders", {})).items()}


def _save_folders(paths: Paths, folders: dict[str, Path]) -> Path:
    file = registry_file(paths)
    lines = ["# local model folders (model id = folder), recorded by sora-tui", "[folders]"]
    for model_id, folder in sorted(folders.items()):
        lines.append(f"{json.dumps(model_id)} = {json.dumps(str(folder))}")
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", "utf-8")
    os.replace(tmp, file)
    return file


def folder_for(spec: ModelSpec, paths: Paths, settings: Settings) -> Path:
    """Where ``spec``'s weights are: its recorded folder, else ``<local_models_dir>/<id>``."""
    folders = load_folders(paths)
    if spec.id in folders:
        return folders[spec.id]
    if settings.local_models_dir:
        return Path(settings.local_models_dir).expanduser() / spec.id
    local = LocalSpec.of(spec)
    raise LocalModelError(
        "model",
        f"{spec.id} has no model folder: {local.download_hint('DIR')}, then record that folder "
        f"(or set local_models_dir to a folder holding {spec.id}/)",
        code=Code.LOCAL_FOLDER,
        context={"model": spec.id},
    )


def add_folder(paths: Paths, catalog: Catalog, model_id: str, folder: str | Path) -> Path:
    """Check ``folder`` for ``model_id`` and record it; returns the resolved folder."""
    spec = catalog.get(model_id)
    if spec.provider != "local":
        locals_ = [m.id for m in catalog if m.provider == "local"]
        raise LocalModelError("model", f"{model_id} is not a local model", locals_)
    path = Path(folder).expanduser().resolve()
    check_folder(spec, path)
    folders = load_folders(paths)
    folders[model_id] = path
    _save_folders(paths, folders)
    return path


def remove_folder(paths: Paths, model_id: str) -> Path:
    folders = load_folders(paths)
    if model_id not in folders:
        raise LocalModelError("model", f"no folder is recorded for {model_id}", sorted(folders))
    path = folders.pop(model_id)
    _save_folders(paths, folders)
    return path


# --- checking a folder ------------------------------------------------------------------


def check_folder(spec: ModelSpec, folder: Path) -> dict[str, Any]:
    """Refuse a folder that cannot load ``spec`` offline; returns its model_index.json.

    Checks: the folder exists, ``model_index.json`` reads and names the catalog's pipeline class,
    and every component it names is there with its config and its weights (every shard a
    ``*.index.json`` names; no ``*.incomplete`` download left over).
    """
    local = LocalSpec.of(spec)
    hint = local.download_hint(folder)
    where = f"{spec.id} ({folder})"
    if not folder.exists():
        raise LocalModelError("folder", f"{where} does not exist; {hint}")
    if not folder.is_dir():
        raise LocalModelError("folder", f"{where} is not a folder; give the folder that holds model_index.json")
    index_file = folder / "model_index.json"
    if not index_file.is_file():
        raise LocalModelError("folder", f"{where} has no model_index.json: it is not a diffusers model folder; {hint}")
    try:
        index = json.loads(index_file.read_text("utf-8"))
        if not isinstance(index, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise LocalModelError("folder", f"{where}: model_index.json cannot be read ({exc}); {hint}") from None
    found = str(index.get("_class_name", ""))
    if found != local.pipeline:
        raise LocalModelError(
            "folder",
            f"{where} holds a {found or 'unnamed'} pipeline, not the {local.pipeline} that {spec.id} needs: "
            f"wrong folder or wrong model id; {hint}",
        )
    missing: list[str] = []
    for name, value in index.items():
        if name.startswith("_") or not isinstance(value, list) or len(value) != 2 or value[0] is None:
            continue
        sub = folder / name
        if not sub.is_dir():
            missing.append(f"{name}/ ({value[1]})")
            continue
        missing += [f"{name}/{p}" for p in _component_gaps(sub)]
    if missing:
        shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
        raise LocalModelError(
            "folder", f"{where} is incomplete (a download that stopped half-way?): missing {shown}; {hint}"
        )
    return index


def _component_gaps(sub: Path) -> list[str]:
    """What a component folder lacks: its config, its weights, a shard its index names, or a finished download."""
    names = {p.name for p in sub.iterdir()}
    gaps = [f"{n} (download not finished)" for n in sorted(names) if n.endswith(".incomplete")]
    configs = [n for n in CONFIG_NAMES if n in names]
    if not configs and not any(n.endswith((".json", ".model", ".txt")) for n in names):
        gaps.append("config.json")
    indexes = [n for n in names if n.endswith(".index.json")]
    for idx in indexes:
        try:
            weight_map = json.loads((sub / idx).read_text("utf-8")).get("weight_map", {})
        except (OSError, ValueError, AttributeError):
            gaps.append(f"{idx} (unreadable)")
            continue
        gaps += sorted({str(f) for f in weight_map.values() if str(f) not in names})
    if "config.json" in names and not indexes and not any(n.endswith(WEIGHT_SUFFIXES) for n in names):
        try:
            config = json.loads((sub / "config.json").read_text("utf-8"))
        except (OSError, ValueError):
            config = {}
        if isinstance(config, dict) and ("_class_name" in config or "architectures" in config):
            gaps.append("its weights (*.safetensors)")
    return gaps
