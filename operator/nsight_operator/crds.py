"""CustomResourceDefinitions generated from the spec models of :mod:`nsight_lab.cluster.resources`.

The models are the single definition of each resource; this turns their JSON schema
into the structural OpenAPI v3 schema Kubernetes wants (no ``$ref``, no ``anyOf`` of
types, ``nullable`` instead of a null type, defaults kept so the apiserver fills them
in). ``python -m nsight_operator.crds`` rewrites ``operator/crds/`` and the chart's
``crds/``; a unit test fails when the committed files differ from what this makes.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from nsight_lab.cluster.resources import GROUP, Kind, all_kinds

REPO_ROOT = Path(__file__).resolve().parents[2]
OUTPUT_DIRS = (REPO_ROOT / "operator" / "crds", REPO_ROOT / "charts" / "nsight-lab" / "crds")
_DROP = ("title", "examples")


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    """Inline every ``$ref`` (the models have no recursion)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = defs[node["$ref"].rsplit("/", 1)[-1]]
            merged = {**copy.deepcopy(target), **{k: v for k, v in node.items() if k != "$ref"}}
            return _resolve(merged, defs)
        return {k: _resolve(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_resolve(v, defs) for v in node]
    return node


def _structural(node: dict[str, Any]) -> dict[str, Any]:
    """One JSON-schema node as a structural schema node."""
    node = {k: v for k, v in node.items() if k not in _DROP}
    nullable = False
    for key in ("anyOf", "oneOf"):
        if key not in node:
            continue
        options = node.pop(key)
        real = [o for o in options if o.get("type") != "null"]
        nullable = len(real) < len(options)
        types = {o.get("type") for o in real}
        if types == {"integer", "string"}:
            node["x-kubernetes-int-or-string"] = True
        elif len(real) == 1:
            node = {**real[0], **node}
        else:
            raise ValueError(f"cannot express a union of {sorted(map(str, types))} in a CRD")
    for key in _DROP:
        node.pop(key, None)
    if node.get("default", ...) is None:
        del node["default"]
    if nullable:
        node["nullable"] = True
    if "const" in node:
        node["enum"] = [node.pop("const")]
    # JSON Schema 2020 numbers vs OpenAPI 3.0 booleans.
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(exclusive), (int, float)) and not isinstance(node[exclusive], bool):
            node[bound] = node.pop(exclusive)
            node[exclusive] = True
    kind = node.get("type")
    if kind == "object":
        props = node.get("properties")
        if props is not None:
            node["properties"] = {name: _structural(p) for name, p in props.items()}
            for name, prop in node["properties"].items():
                # A nested object defaults to {} so the apiserver fills in its own defaults
                # (and `kubectl get -o yaml` shows the settings in effect).
                if (
                    prop.get("type") == "object"
                    and "properties" in prop
                    and "default" not in prop
                    and name not in node.get("required", [])
                    and not prop.get("nullable")
                ):
                    prop["default"] = {}
            extra = node.pop("additionalProperties", None)
            if extra is True:
                node["x-kubernetes-preserve-unknown-fields"] = True
        else:
            extra = node.get("additionalProperties")
            if isinstance(extra, dict):
                node["additionalProperties"] = _structural(extra)
            else:
                node.pop("additionalProperties", None)
                node["x-kubernetes-preserve-unknown-fields"] = True
    elif kind == "array":
        node["items"] = _structural(node.get("items", {}))
    elif kind is None and not node.get("x-kubernetes-int-or-string"):
        node["x-kubernetes-preserve-unknown-fields"] = True
    return node


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural schema of ``model`` (camelCase names, as on the wire)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _structural(_resolve(raw, raw.get("$defs", {})))


def crd(kind: Kind) -> dict[str, Any]:
    """The ``apiextensions.k8s.io/v1`` CustomResourceDefinition of ``kind``."""
    spec_schema = model_schema(kind.spec)
    spec_schema.setdefault("description", (kind.spec.__doc__ or "").strip().split("\n")[0])
    status_schema = model_schema(kind.status)
    columns = [
        {
            "name": "Ready",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        },
        {
            "name": "Reason",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
        },
        *({"name": n, "type": t, "jsonPath": p} for n, t, p in kind.columns),
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    versions = []
    for version in kind.versions:
        versions.append(
            {
                "name": version,
                "served": True,
                "storage": version == kind.storage_version,
                **(
                    {}
                    if version == kind.storage_version
                    else {
                        "deprecated": True,
                        "deprecationWarning": f"{GROUP}/{version} {kind.kind} is deprecated; "
                        f"use {kind.api_version}",
                    }
                ),
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "description": f"{kind.kind}: "
                        + (kind.spec.__doc__ or "").strip().split("\n")[0],
                        "properties": {
                            "apiVersion": {"type": "string"},
                            "kind": {"type": "string"},
                            "metadata": {"type": "object"},
                            "spec": {**spec_schema, "default": {}},
                            "status": status_schema,
                        },
                    }
                },
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns,
            }
        )
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": kind.crd_name,
            "labels": {"app.kubernetes.io/part-of": "nsight-lab"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": list(kind.short_names),
                "categories": ["nsight", "nsight-lab"],
            },
            "versions": versions,
        },
    }


def render_all() -> dict[str, str]:
    """File name to YAML text, for every kind."""
    out = {}
    for kind in all_kinds():
        text = yaml.safe_dump(crd(kind), sort_keys=False, width=100)
        out[f"{kind.crd_name}.yaml"] = (
            "# Generated by `python -m nsight_operator.crds` from nsight_lab/cluster/resources.py;"
            " do not edit.\n" + text
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nsight_operator.crds",
        description="Write the CRDs into operator/crds and charts/nsight-lab/crds.",
    )
    parser.add_argument("--check", action="store_true", help="Exit 1 if the files are stale.")
    args = parser.parse_args(argv)
    files = render_all()
    stale = []
    for folder in OUTPUT_DIRS:
        for name, text in files.items():
            path = folder / name
            if path.exists() and path.read_text() == text:
                continue
            stale.append(path)
            if not args.check:
                folder.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        for path in folder.glob("*.yaml"):
            if path.name not in files:
                stale.append(path)
                if not args.check:
                    path.unlink()
    for path in stale:
        print(f"{'stale' if args.check else 'wrote'}: {path.relative_to(REPO_ROOT)}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
