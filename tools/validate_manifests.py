#!/usr/bin/env python3
"""Validate rendered Kubernetes manifests (the output of `helm template`) offline, strictly.

* built-in kinds: the OpenAPI-derived JSON schemas bundled in kubernetes-validate, strict
  variant (an unknown field is an error), for each Kubernetes version given with -k;
* monitoring.coreos.com kinds (ServiceMonitor, PrometheusRule, ...): the pydantic models of
  cloudcoil-models-prometheus-operator (generated from the prometheus-operator v0.80.1 CRDs),
  with extra fields forbidden on every model so a typo is caught as in strict mode;
* any other kind (a CRD we have no schema for, a typo in apiVersion or kind) is an error;
* a null value is an error (a template block that rendered nothing, like `emptyDir:`);
* the same object twice in one file is an error.

    validate_manifests.py [-k 1.25.0 -k 1.33.0] FILE|- ...

Prints one line per object and `manifest validation: N checked, M invalid`; exit 1 when an
object is invalid or nothing was checked.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate import utils as kv
from referencing import Registry, Resource


@cache
def prometheus_models() -> dict[str, ModuleType]:
    """The cloudcoil Prometheus Operator models, made strict (the caveat in helm-offline.md)."""
    import pydantic
    from cloudcoil.models.prometheus_operator import v1, v1alpha1

    modules = [m for m in list(sys.modules.values()) if getattr(m, "__name__", "").startswith("cloudcoil")]
    classes: list[type[pydantic.BaseModel]] = [
        c for m in modules for c in vars(m).values()
        if inspect.isclass(c) and issubclass(c, pydantic.BaseModel) and c.__module__ == m.__name__]
    for c in classes:
        c.model_config["extra"] = "forbid"
    for c in classes:
        c.model_rebuild(force=True)
    return {"monitoring.coreos.com/v1": v1, "monitoring.coreos.com/v1alpha1": v1alpha1}


def crd_errors(doc: dict[str, Any]) -> list[str]:
    import pydantic

    module = prometheus_models().get(doc["apiVersion"])
    model = getattr(module, doc["kind"], None) if module else None
    if model is None:
        return [f"no schema for {doc['kind']} {doc['apiVersion']}"]
    try:
        model.model_validate(doc)
    except pydantic.ValidationError as exc:
        return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                + ("" if isinstance(e.get("input"), dict | list) else f" (got {e.get('input')!r})")
                for e in exc.errors()]
    return []


@cache
def k8s_validator(version: str, api_version: str, kind: str) -> jsonschema.Draft202012Validator | str:
    """The strict schema of one kind in one Kubernetes version, or why there is none."""
    want = kv.major_minor(version.lstrip("v"))
    have = [v for v in kv.all_versions() if kv.major_minor(v) <= want]
    if not have:
        return f"kubernetes-validate {kubernetes_validate.__version__} has no schemas for {version}"
    schema_dir = f"kubernetes-json-schema/v{have[-1]}-local-strict"
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = kv.schema_contents(f"{schema_dir}/{kind.lower()}-{group}.json", want)
    except FileNotFoundError:
        return (f"no schema for {kind} {api_version} in Kubernetes {version}"
                " (removed or renamed API, typo, or a CRD we have no schema for)")
    registry = Resource.from_contents(schema) @ definitions(schema_dir, want)
    return jsonschema.Draft202012Validator(schema, registry=registry)


@cache
def definitions(schema_dir: str, want: str) -> Registry:  # type: ignore[type-arg]
    """The shared definitions of one Kubernetes version, parsed once (they are most of the time)."""
    return Resource.from_contents(kv.schema_contents(f"{schema_dir}/_definitions.json", want)) @ Registry()


def k8s_errors(doc: dict[str, Any], version: str) -> list[str]:
    """Like kubernetes_validate.validate(strict=True), but every error, not only the first."""
    validator = k8s_validator(version, doc["apiVersion"], doc["kind"])
    if isinstance(validator, str):
        return [validator]
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]


def nulls(value: Any, path: str = "") -> list[str]:
    """Fields whose value is null: in a rendered chart, a block whose template rendered nothing
    (`emptyDir:` with its body skipped); the schemas allow null, the API server may not."""
    if value is None:
        return [f"{path or '<root>'}: null value (a template block that rendered nothing?)"]
    if isinstance(value, dict):
        return [e for k, v in value.items() for e in nulls(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list):
        return [e for i, v in enumerate(value) for e in nulls(v, f"{path}.{i}" if path else str(i))]
    return []


def errors_of(doc: Any, versions: list[str]) -> list[str]:
    if not isinstance(doc, dict) or not isinstance(doc.get("apiVersion"), str) or not doc.get("kind"):
        return ["not a Kubernetes object (no apiVersion or kind)"]
    if doc["apiVersion"].startswith("monitoring.coreos.com/"):
        return crd_errors(doc) + nulls(doc)
    found: list[str] = nulls(doc)
    for version in versions:
        for error in k8s_errors(doc, version):
            tagged = f"[k8s {version}] {error}" if len(versions) > 1 else error
            found.append(tagged)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", "--kubernetes-version", action="append", dest="versions",
                        help="validate against this version (repeatable; default 1.33.0)")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    versions = args.versions or ["1.33.0"]
    total = invalid = 0
    for path in args.files:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        try:
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as exc:
            print(f"ERROR {path}: not valid YAML: {exc}")
            invalid += 1
            continue
        seen: set[tuple[Any, ...]] = set()
        for doc in docs:
            total += 1
            meta = (doc.get("metadata") or {}) if isinstance(doc, dict) else {}
            name = f"{doc.get('kind', '?')}/{meta.get('name', '?')}" if isinstance(doc, dict) else "?"
            errors = errors_of(doc, versions)
            if isinstance(doc, dict):
                key = (str(doc.get("apiVersion", "")).split("/")[0], doc.get("kind"),
                       meta.get("namespace"), meta.get("name"))
                if key in seen:
                    errors.append("duplicate object (same kind, namespace and name) in this file")
                seen.add(key)
            for error in errors:
                print(f"ERROR {path}: {name}: {error}")
            if errors:
                invalid += 1
            else:
                print(f"ok    {path}: {name}")
    print(f"manifest validation: {total} checked, {invalid} invalid (Kubernetes {', '.join(versions)})")
    return 1 if invalid or not total else 0


if __name__ == "__main__":
    sys.exit(main())
