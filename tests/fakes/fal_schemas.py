"""fal's input types of every catalog endpoint (recorded JSON Schemas) and a validator that answers
like fal: FastAPI-style ``detail`` items ``{loc, msg, type}`` for a 422.

The schemas live in ``tests/fal_schemas/`` (see ``extract.py`` there: they come from fal-js's
``endpoints.ts``). A field the endpoint's input does not have is refused (``extra_forbidden``),
as are values outside an enum, missing required fields and wrong types.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "fal_schemas"


def schema_path(endpoint: str) -> Path:
    return SCHEMA_DIR / (endpoint.replace("/", "__") + ".json")


@cache
def load_schema(endpoint: str) -> dict[str, Any] | None:
    path = schema_path(endpoint)
    if not path.is_file():
        return None
    schema: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return schema


def recorded_endpoints() -> set[str]:
    return {p.stem.replace("__", "/") for p in SCHEMA_DIR.glob("*.json")}


@cache
def _validator(endpoint: str) -> Draft202012Validator | None:
    from jsonschema import Draft202012Validator

    schema = load_schema(endpoint)
    return None if schema is None else Draft202012Validator(schema)


_TYPE_NAMES = {"string": "string_type", "number": "float_type", "boolean": "bool_type", "array": "list_type"}


def errors(endpoint: str, body: Any) -> list[dict[str, Any]]:
    """fal-style validation errors of ``body`` for ``endpoint`` ([] when it is accepted).

    Raises KeyError when no schema of ``endpoint`` is recorded.
    """
    validator = _validator(endpoint)
    if validator is None:
        raise KeyError(f"no recorded input schema for {endpoint}")
    out: list[dict[str, Any]] = []
    for err in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
        loc = ["body", *[str(p) for p in err.absolute_path]]
        if err.validator == "additionalProperties":
            allowed = set(err.schema.get("properties", {}))
            for name in sorted(set(err.instance) - allowed):
                out.append({"loc": [*loc, name], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"})
        elif err.validator == "required":
            name = err.message.split("'")[1]
            out.append({"loc": [*loc, name], "msg": "Field required", "type": "missing"})
        elif err.validator == "enum":
            choices = ", ".join(repr(v) for v in err.validator_value)
            out.append({"loc": loc, "msg": f"Input should be {choices}", "type": "literal_error"})
        elif err.validator == "type":
            kind = _TYPE_NAMES.get(str(err.validator_value), "type_error")
            out.append({"loc": loc, "msg": f"Input should be a valid {err.validator_value}", "type": kind})
        else:
            out.append({"loc": loc, "msg": err.message, "type": str(err.validator)})
    return out
