"""The CRDs are generated from the spec models, structural, and committed up to date."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from nsight_lab.cluster.resources import GROUP, Kinds, all_kinds
from nsight_operator.crds import OUTPUT_DIRS, crd, render_all


def test_the_committed_crds_are_what_the_models_generate() -> None:
    expected = render_all()
    for folder in OUTPUT_DIRS:
        found = {p.name: p.read_text() for p in folder.glob("*.yaml")}
        assert found == expected, (
            f"{folder} is stale: run `python -m nsight_operator.crds` and commit the result"
        )


def _walk(node: Any, path: str = "") -> list[str]:
    """Constructs a structural schema may not contain."""
    bad: list[str] = []
    if isinstance(node, dict):
        for key in ("$ref", "anyOf", "oneOf", "allOf", "$defs", "title"):
            if key in node and key != "anyOf":
                bad.append(f"{path}/{key}")
        if "anyOf" in node:
            bad.append(f"{path}/anyOf")
        if node.get("type") is None and not (
            node.get("x-kubernetes-preserve-unknown-fields")
            or node.get("x-kubernetes-int-or-string")
        ):
            bad.append(f"{path} has no type")
        for key, value in node.get("properties", {}).items():
            bad += _walk(value, f"{path}.{key}")
        if isinstance(node.get("items"), dict):
            bad += _walk(node["items"], f"{path}[]")
        if isinstance(node.get("additionalProperties"), dict):
            bad += _walk(node["additionalProperties"], f"{path}{{}}")
    return bad


@pytest.mark.parametrize("kind", all_kinds(), ids=lambda k: k.kind)
def test_every_schema_is_structural_with_status_and_printer_columns(kind: Any) -> None:
    doc = crd(kind)
    assert doc["spec"]["group"] == GROUP
    for version in doc["spec"]["versions"]:
        schema = version["schema"]["openAPIV3Schema"]
        assert _walk(schema) == []
        assert version["subresources"] == {"status": {}}
        columns = {c["name"] for c in version["additionalPrinterColumns"]}
        assert {"Ready", "Age"} <= columns
        conditions = schema["properties"]["status"]["properties"]["conditions"]
        assert conditions["type"] == "array"
    assert sum(v["storage"] for v in doc["spec"]["versions"]) == 1


def test_defaults_and_validation_come_from_the_models() -> None:
    spec = crd(Kinds.STORAGE)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "spec"
    ]
    props = spec["properties"]
    assert props["storage_type"] == {
        "default": "s3",
        "description": props["storage_type"]["description"],
        "enum": ["s3", "local", "pod"],
        "type": "string",
    }
    assert props["bucket_name"]["minLength"] == 3 and props["bucket_name"]["maxLength"] == 63
    # Nested objects default to {} so the apiserver fills in their own defaults.
    assert props["minio"]["default"] == {}
    assert props["minio"]["properties"]["persistence"]["properties"]["size"]["default"] == "10Gi"
    assert props["secretRef"]["nullable"] is True


def test_the_profile_config_is_served_as_v1_and_v1alpha1() -> None:
    versions = {v["name"]: v for v in crd(Kinds.PROFILE_CONFIG)["spec"]["versions"]}
    assert versions["v1"]["storage"] is True
    assert versions["v1alpha1"]["deprecated"] is True


def test_the_files_are_valid_yaml_with_one_document_each() -> None:
    for text in render_all().values():
        docs = [d for d in yaml.safe_load_all(text) if d]
        assert len(docs) == 1 and docs[0]["kind"] == "CustomResourceDefinition"
