"""A small, faithful Python render of the kustomize features deploy/ uses.

No kustomize binary can be installed from the registries this project's machines reach
(PyPI, Debian, npm), so the tests render the base and the example overlay here and, where
a ``kubectl`` with its built-in kustomize exists, check this render against it object by
object (tests/unit/test_deploy.py). Supported: ``resources`` (files and directories),
``configMapGenerator`` with ``files`` (kustomize's content-hash name suffix and the
Deployment's reference to it), ``labels`` (metadata only), ``namespace``, ``images`` and
JSON6902 ``patches`` with a kind/name target. Anything else raises, so a new feature in
deploy/ cannot silently render wrong.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]
KNOWN = {"apiVersion", "kind", "resources", "configMapGenerator", "labels", "namespace",
         "images", "patches"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


def render(root: Path) -> list[Obj]:
    """Every object ``kustomize build root`` outputs (order aside)."""
    spec = yaml.safe_load((root / "kustomization.yaml").read_text())
    unknown = set(spec) - KNOWN
    if unknown:
        raise NotImplementedError(f"{root}: kustomize fields not rendered here: {unknown}")
    objects: list[Obj] = []
    for entry in spec.get("resources", []):
        path = (root / entry).resolve()
        if path.is_dir():
            objects.extend(render(path))
        else:
            objects.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    renames: dict[str, str] = {}
    for generator in spec.get("configMapGenerator", []):
        config_map = _config_map(root, generator)
        renames[generator["name"]] = config_map["metadata"]["name"]
        objects.append(config_map)
    for obj in objects:
        _rename_config_maps(obj, renames)
        for label in spec.get("labels", []):
            if label.get("includeSelectors") or label.get("includeTemplates"):
                raise NotImplementedError("labels with includeSelectors/includeTemplates")
            obj["metadata"].setdefault("labels", {}).update(label["pairs"])
        if "namespace" in spec and obj["kind"] not in CLUSTER_SCOPED:
            obj["metadata"]["namespace"] = spec["namespace"]
        _images(obj, spec.get("images", []))
        for patch in spec.get("patches", []):
            target = patch["target"]
            if obj["kind"] == target["kind"] and obj["metadata"]["name"] == target["name"]:
                for op in yaml.safe_load(patch["patch"]):
                    _json6902(obj, op)
    return objects


def _config_map(root: Path, generator: Obj) -> Obj:
    if set(generator) - {"name", "files", "options"}:
        raise NotImplementedError(f"configMapGenerator fields: {set(generator)}")
    data: dict[str, str] = {}
    for item in generator["files"]:
        key, _, path = item.rpartition("=") if "=" in item else ("", "", item)
        file = root / path
        if file.resolve().parent != root.resolve() and root.resolve() not in file.resolve().parents:
            raise ValueError(f"{file}: kustomize refuses files outside {root}")
        data[key or Path(path).name] = file.read_text()
    name = generator["name"]
    metadata: Obj = {"name": f"{name}-{config_map_hash(data)}"}
    if labels := generator.get("options", {}).get("labels"):
        metadata["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def config_map_hash(data: dict[str, str]) -> str:
    """kustomize's name suffix: sha256 of Go's json.Marshal of kind, name and data.

    kustomize 5 hashes the generated map before it names it, so ``name`` is empty.
    """
    encoded = json.dumps(
        {"data": data, "kind": "ConfigMap", "name": ""},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    )
    for char, escape in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        encoded = encoded.replace(char, escape)  # Go escapes these for HTML safety
    digest = hashlib.sha256(encoded.encode()).hexdigest()[:10]
    return digest.translate(str.maketrans({"0": "g", "1": "h", "3": "k", "a": "m", "e": "t"}))


def _rename_config_maps(obj: Obj, renames: dict[str, str]) -> None:
    if obj["kind"] != "Deployment":
        return
    for volume in obj["spec"]["template"]["spec"].get("volumes", []):
        if "configMap" in volume and volume["configMap"]["name"] in renames:
            volume["configMap"]["name"] = renames[volume["configMap"]["name"]]


def _images(obj: Obj, images: list[Obj]) -> None:
    if obj["kind"] != "Deployment":
        return
    for container in obj["spec"]["template"]["spec"]["containers"]:
        name = container["image"].split("@")[0].rsplit(":", 1)[0]
        for image in images:
            if image["name"] == name:
                container["image"] = f"{image.get('newName', name)}:{image['newTag']}"


def _json6902(obj: Obj, op: Obj) -> None:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
    parent = obj
    for part in parts[:-1]:
        parent = parent[int(part)] if isinstance(parent, list) else parent[part]
    last = parts[-1]
    if op["op"] in ("add", "replace"):
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            parent.insert(index, copy.deepcopy(op["value"]))
        else:
            parent[last] = copy.deepcopy(op["value"])
    elif op["op"] == "remove":
        del parent[int(last) if isinstance(parent, list) else last]
    else:
        raise NotImplementedError(f"JSON6902 op {op['op']}")
