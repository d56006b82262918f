"""Record the input types of fal endpoints as JSON Schema files, from fal-js's generated types.

fal publishes the input and output types of every endpoint in the ``fal-ai/fal-js``
repository (``libs/client/src/types/endpoints.ts``, generated from fal's OpenAPI
schemas): ``EndpointTypeMap`` maps each endpoint id to its ``input`` type. This script
reads that file and writes one JSON Schema per endpoint into this folder
(``<endpoint id with / as __>.json``), with ``additionalProperties: false``: a field
the TypeScript type does not have is one fal does not take.

    python tests/fal_schemas/extract.py ENDPOINTS_TS --commit SHA [ENDPOINT ...]

Without endpoint ids it records every fal endpoint named by the packaged catalog
(video models and image models). The files here were made from a clone of fal-js with

    git show 381105e1:libs/client/src/types/endpoints.ts > /tmp/endpoints.ts
    python tests/fal_schemas/extract.py /tmp/endpoints.ts --commit 381105e138b85502b528fb8f6c16d909e30e462a --date 2026-08-02
    git show 9830f25d:libs/client/src/types/endpoints.ts > /tmp/endpoints-0407.ts
    python tests/fal_schemas/extract.py /tmp/endpoints-0407.ts --commit 9830f25d025218a0d5eb684ab5193cad58d95955 \
        --date 2026-04-07 fal-ai/sora-2/text-to-video fal-ai/sora-2/image-to-video \
        fal-ai/sora-2/text-to-video/pro fal-ai/sora-2/image-to-video/pro

(the retired Sora 2 endpoints left fal's map after April 2026; the first run reports them
missing and exits 1). ``--commit`` is written into each file so that the
source of every schema stays known. The translation covers what the generated file
uses: object types, optional members (``?``), string/number/boolean literals and
their unions, ``string | Blob | File`` (a URL or data URI on the wire: a string),
arrays (``T[]``, ``Array<T>``), ``Record<string, T>``, index signatures and
references to other exported types (inlined). Each member's ``Default value`` in its
doc comment becomes ``default``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SOURCE = "fal-ai/fal-js libs/client/src/types/endpoints.ts"

_TOKEN = re.compile(
    r"""
    (?P<doc>/\*\*.*?\*/)
  | (?P<comment>/\*.*?\*/|//[^\n]*)
  | (?P<ws>\s+)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<num>-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)
  | (?P<ident>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<punct>[{}()\[\]<>|&;:,?=.])
    """,
    re.S | re.X,
)


def tokenize(text: str) -> list[tuple[str, str]]:
    out = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"cannot read the type text at {text[pos : pos + 40]!r}")
        kind = m.lastgroup or ""
        if kind not in ("ws", "comment"):
            out.append((kind, m.group()))
        pos = m.end()
    return out


def _doc_text(doc: str) -> str:
    lines = [re.sub(r"^\s*\*\s?", "", line) for line in doc[3:-2].splitlines()]
    return " ".join(line.strip() for line in lines if line.strip())


def _default(doc: str) -> Any:
    m = re.search(r"Default value: `(.*?)`", doc)
    if not m:
        return None
    try:
        return json.loads(m.group(1))
    except ValueError:
        return m.group(1)


class TypeFile:
    """The exported types of a TypeScript declaration file, translated on demand."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = {m.group(1): m.end() for m in re.finditer(r"^export type (\w+)\s*=", text, re.M)}
        self._tokens: dict[str, list[tuple[str, str]]] = {}

    def tokens_of(self, name: str) -> list[tuple[str, str]]:
        if name not in self._tokens:
            start = self.starts[name]
            depth = 0
            i = start
            text = self.text
            in_str: str | None = None
            while i < len(text):
                c = text[i]
                if in_str:
                    if c == "\\":
                        i += 2
                        continue
                    if c == in_str:
                        in_str = None
                elif text.startswith("/*", i):
                    i = text.index("*/", i) + 2
                    continue
                elif c in "\"'":
                    in_str = c
                elif c in "{(<[":
                    depth += 1
                elif c in "})>]":
                    depth -= 1
                elif c == ";" and depth == 0:
                    break
                i += 1
            self._tokens[name] = tokenize(text[start:i])
        return self._tokens[name]

    def endpoint_map(self) -> dict[str, str]:
        """endpoint id -> name of its input type."""
        toks = self.tokens_of("EndpointTypeMap")
        out: dict[str, str] = {}
        i = 0
        while i < len(toks):
            kind, value = toks[i]
            if kind == "str" and toks[i + 1][1] == ":" and toks[i + 2][1] == "{":
                j = i + 3
                depth = 1
                while depth:
                    if toks[j] == ("ident", "input") and toks[j + 1][1] == ":" and depth == 1:
                        out[json.loads(value)] = toks[j + 2][1]
                    depth += {"{": 1, "}": -1}.get(toks[j][1], 0)
                    j += 1
                i = j
            else:
                i += 1
        return out

    def schema(self, name: str, stack: tuple[str, ...] = ()) -> dict[str, Any]:
        if name in ("Blob", "File"):
            return {"type": "string"}
        if name not in self.starts:
            raise KeyError(f"type {name} is not exported by the file")
        if name in stack:  # recursive type: accept anything below this point
            return {}
        parser = _Parser(self, self.tokens_of(name), stack + (name,))
        out = parser.type_()
        if parser.i != len(parser.toks):
            raise ValueError(f"{name}: unread tokens {parser.toks[parser.i : parser.i + 5]}")
        return out


class _Parser:
    def __init__(self, tf: TypeFile, toks: list[tuple[str, str]], stack: tuple[str, ...]) -> None:
        self.tf, self.toks, self.stack, self.i = tf, toks, stack, 0

    def peek(self, k: int = 0) -> tuple[str, str]:
        return self.toks[self.i + k] if self.i + k < len(self.toks) else ("eof", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if value is not None and tok[1] != value:
            raise ValueError(f"expected {value!r}, found {tok[1]!r} in {self.stack[-1]}")
        self.i += 1
        return tok

    def type_(self) -> dict[str, Any]:
        if self.peek()[1] == "|":
            self.take()
        parts = [self.postfix()]
        while self.peek()[1] == "|":
            self.take()
            parts.append(self.postfix())
        return _union(parts)

    def postfix(self) -> dict[str, Any]:
        out = self.primary()
        while self.peek()[1] == "[" and self.peek(1)[1] == "]":
            self.take()
            self.take()
            out = {"type": "array", "items": out}
        return out

    def primary(self) -> dict[str, Any]:
        kind, value = self.take()
        if kind == "str":
            return {"const": json.loads(value) if value.startswith('"') else value[1:-1]}
        if kind == "num":
            return {"const": json.loads(value)}
        if value == "(":
            out = self.type_()
            self.take(")")
            return out
        if value == "{":
            return self.object_()
        if kind != "ident":
            raise ValueError(f"unexpected {value!r} in {self.stack[-1]}")
        simple: dict[str, dict[str, Any]] = {
            "string": {"type": "string"},
            "number": {"type": "number"},
            "boolean": {"type": "boolean"},
            "null": {"type": "null"},
            "true": {"const": True},
            "false": {"const": False},
            "any": {},
            "unknown": {},
            "object": {"type": "object"},
        }
        if value in simple:
            return dict(simple[value])
        if value in ("Array", "Record") and self.peek()[1] == "<":
            self.take("<")
            args = [self.type_()]
            while self.peek()[1] == ",":
                self.take()
                args.append(self.type_())
            self.take(">")
            if value == "Array":
                return {"type": "array", "items": args[0]}
            return {"type": "object", "additionalProperties": args[-1]}
        return self.tf.schema(value, self.stack)

    def object_(self) -> dict[str, Any]:
        props: dict[str, Any] = {}
        required: list[str] = []
        extra: Any = False
        doc = ""
        while self.peek()[1] != "}":
            kind, value = self.peek()
            if kind == "doc":
                doc = value
                self.take()
                continue
            if value == "[":  # index signature: [key: string]: T
                self.take()
                self.take()
                self.take(":")
                self.type_()
                self.take("]")
                self.take(":")
                extra = self.type_()
            else:
                self.take()
                name = json.loads(value) if kind == "str" else value
                optional = self.peek()[1] == "?"
                if optional:
                    self.take()
                self.take(":")
                prop = self.type_()
                if doc:
                    text = _doc_text(doc)
                    if text:
                        prop = {"description": text, **prop}
                    default = _default(doc)
                    if default is not None:
                        prop["default"] = default
                props[name] = prop
                if not optional:
                    required.append(name)
            doc = ""
            if self.peek()[1] in (";", ","):
                self.take()
        self.take("}")
        out: dict[str, Any] = {"type": "object", "properties": props}
        if required:
            out["required"] = required
        out["additionalProperties"] = extra
        return out


def _union(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Literals merge into one ``enum``; equal members collapse (``string | Blob | File`` is a string)."""
    unique: list[dict[str, Any]] = []
    for p in parts:
        if p not in unique:
            unique.append(p)
    if len(unique) == 1:
        return unique[0]
    consts = [p["const"] for p in unique if set(p) == {"const"}]
    rest = [p for p in unique if set(p) != {"const"}]
    members: list[dict[str, Any]] = rest + ([{"enum": consts}] if consts else [])
    if len(members) == 1:
        return members[0]
    return {"anyOf": members}


def file_name(endpoint: str) -> str:
    return endpoint.replace("/", "__") + ".json"


def catalog_endpoints() -> list[str]:
    sys.path.insert(0, str(HERE.parents[1] / "src"))
    from sora_tui.core.catalog import load_catalog

    cat = load_catalog()
    out: list[str] = []
    for spec in cat:
        if spec.provider == "fal":
            out += [ep for ep in spec.endpoints.values() if ep not in out]
    for image in cat.image_models.values():
        if image.provider == "fal":
            out += [ep for ep in (image.t2i, image.edit) if ep not in out]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("endpoints_ts", type=Path, help="a checkout's libs/client/src/types/endpoints.ts")
    ap.add_argument("--commit", required=True, help="the fal-js commit the file comes from")
    ap.add_argument("--date", default="", help="that commit's date")
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("endpoint", nargs="*", help="endpoint ids (default: every fal endpoint of the catalog)")
    args = ap.parse_intermixed_args(argv)
    tf = TypeFile(args.endpoints_ts.read_text("utf-8"))
    inputs = tf.endpoint_map()
    wanted = args.endpoint or catalog_endpoints()
    missing = []
    for endpoint in wanted:
        if endpoint not in inputs:
            missing.append(endpoint)
            continue
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": f"{endpoint} input ({inputs[endpoint]})",
            "$comment": f"{SOURCE} at commit {args.commit}" + (f" ({args.date})" if args.date else ""),
            **tf.schema(inputs[endpoint]),
        }
        (args.out / file_name(endpoint)).write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", "utf-8")
        print(f"{endpoint}: {inputs[endpoint]}")
    for endpoint in missing:
        print(f"{endpoint}: not in this file's EndpointTypeMap", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
