"""Reference-panel genotypes: reading PLINK 1 binary filesets and VCF/BCF, writing PLINK, and
standardising dosages for LD.

This module owns :class:`GenotypePanel` (a variant table, a sample table and lazy access to
dosages), the readers :func:`read_plink`, :func:`read_vcf` and :func:`read_genotypes`, the writer
:func:`write_plink` and :func:`standardize`.

Conventions
-----------
- Dosages count the **A1** allele: 0, 1 or 2 copies, NaN for a missing call. For PLINK filesets
  A1 is the fifth ``.bim`` column (PLINK's own convention, ``count_A1=True`` in bed-reader); for
  VCF A1 is ALT and A2 is REF.
- PLINK dosages are read from disk on each call (bed-reader, only the requested columns); VCF
  dosages are parsed once and cached in memory as int8 with -1 for missing, which is fine for
  reference panels of a few thousand samples and a few hundred thousand variants. Panels held in
  memory (:meth:`GenotypePanel.from_dosages`, e.g. simulated genotypes) are cached the same way.
- VCF: only biallelic SNVs (REF and ALT single letters among A, C, G, T) are kept; multi-allelic
  records, indels, symbolic alleles and records on unrecognised contigs are skipped, counted and
  reported in one warning. A call with any missing allele (``./.``, ``0/.``) is missing. A haploid
  call counts as homozygous (0 or 2), as PLINK does for male X chromosomes.
"""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from deepwas.errors import InputError
from deepwas.io.variants import chrom_code, chrom_codes, chrom_label, normalize_chrom

__all__ = [
    "GenotypePanel",
    "read_plink",
    "read_vcf",
    "read_genotypes",
    "write_plink",
    "standardize",
]

_VARIANT_COLUMNS = ["CHR", "SNP", "BP", "A1", "A2", "CM", "AF1"]
_SNV = frozenset("ACGT")
_VCF_SUFFIXES = (".vcf", ".vcf.gz", ".vcf.bgz", ".bcf")


@dataclass
class GenotypePanel:
    """A reference panel: variants, samples and lazy access to their dosages.

    Attributes
    ----------
    variants: pandas.DataFrame, (n_variants, 7)
        ``CHR SNP BP A1 A2 CM AF1`` in file order; A1 is the counted allele. ``AF1`` is NaN
        until computed (see :func:`standardize`), ``CM`` NaN when unknown.
    samples: pandas.DataFrame, (n_samples, 2)
        ``FID IID``. For VCF input both are the VCF sample name.
    source: str
        The PLINK prefix or the VCF path the panel was read from.
    kind: str
        ``"plink"``, ``"vcf"``, or ``"memory"`` (:meth:`from_dosages`).
    """

    variants: pd.DataFrame
    samples: pd.DataFrame
    source: str
    kind: str
    # PLINK: the .bed of each fileset and the panel index of its first variant (one per
    # chromosome for ``prefix.@``; variants are the filesets' in this order).
    _beds: tuple[Path, ...] = field(default=(), repr=False)
    _first: tuple[int, ...] = field(default=(), repr=False)
    _cache: np.ndarray | None = field(default=None, repr=False)  # (n_variants, n_samples) int8

    @classmethod
    def from_dosages(
        cls,
        dosages: np.ndarray,
        variants: pd.DataFrame,
        samples: pd.DataFrame | None = None,
        *,
        source: str = "<in memory>",
    ) -> GenotypePanel:
        """A panel held in memory (e.g. simulated genotypes), ``kind="memory"``.

        Parameters
        ----------
        dosages: (n_samples, n_variants)
            Counts of A1 (0, 1, 2), NaN for missing.
        variants: pandas.DataFrame, (n_variants, >=5)
            ``CHR SNP BP A1 A2`` (+ ``CM``, ``AF1``).
        samples: pandas.DataFrame, (n_samples, 2), optional
            ``FID IID``; defaults to ``sample1..sampleN``.
        source:
            A description recorded as the panel's source.
        """
        dosages = np.asarray(dosages, dtype=np.float64)
        table = _checked_table(dosages, variants)
        n = dosages.shape[0]
        if samples is None:
            names = [f"sample{i + 1}" for i in range(n)]
            samples = pd.DataFrame({"FID": names, "IID": names})
        if len(samples) != n:
            raise InputError(f"{len(samples)} samples for {n} dosage rows", column="samples")
        cache = np.where(np.isnan(dosages), -1, dosages).astype(np.int8).T.copy()
        samples = samples[["FID", "IID"]].astype(str).reset_index(drop=True)
        return cls(variants=table, samples=samples, source=source, kind="memory", _cache=cache)

    @classmethod
    def from_codes(
        cls, codes: np.ndarray, variants: pd.DataFrame, samples: pd.DataFrame, *, source: str
    ) -> GenotypePanel:
        """A panel over in-memory genotype codes without copying them.

        Parameters
        ----------
        codes: (n_variants, n_samples) int8
            Counts of A1 (0, 1, 2), -1 for missing (the panel's own cache layout).
        variants: pandas.DataFrame, (n_variants, >=5)
        samples: pandas.DataFrame, (n_samples, 2)
        source:
            A description recorded as the panel's source.
        """
        return cls(
            variants=variants.reset_index(drop=True),
            samples=samples.reset_index(drop=True),
            source=source,
            kind="memory",
            _cache=np.ascontiguousarray(codes, dtype=np.int8),
        )

    def subset(self, index: np.ndarray) -> GenotypePanel:
        """The panel restricted to the variants at ``index`` (positions), held in memory."""
        index = np.asarray(index, dtype=np.int64)
        if self._cache is not None:
            codes = self._cache[index]
        else:
            d = self.dosages(index)
            codes = np.where(np.isnan(d), -1, d).astype(np.int8).T
        return GenotypePanel.from_codes(
            codes, self.variants.iloc[index], self.samples, source=self.source
        )

    @property
    def files(self) -> dict[str, Path]:
        """The files the panel was read from, by role, for provenance: ``bed``, ``bim``, ``fam``
        (``ref.1.bed``, ``ref.1.bim`` ... for ``ref.@``, one fileset per chromosome) or
        ``vcf``; empty for a panel held in memory."""
        if self.kind == "vcf":
            return {"vcf": Path(self.source)}
        out: dict[str, Path] = {}
        for bed in self._beds:
            role = "" if len(self._beds) == 1 else f"{bed.name.removesuffix('.bed')}."
            for ext in ("bed", "bim", "fam"):
                out[f"{role}{ext}"] = bed.with_suffix(f".{ext}")
        return out

    @property
    def n_samples(self) -> int:
        """Number of samples (individuals)."""
        return int(len(self.samples))

    @property
    def n_variants(self) -> int:
        """Number of variants."""
        return int(len(self.variants))

    def dosages(
        self, index: np.ndarray | slice | None = None, *, dtype: type | str = np.float64
    ) -> np.ndarray:
        """Counts of the A1 allele for the selected variants.

        Parameters
        ----------
        index: (n_selected,) int or (n_variants,) bool, or a slice, or None
            Which variants (positions in :attr:`variants`), in the order wanted; None for all.
        dtype:
            A floating dtype (float64 or float32).

        Returns
        -------
        dosages: (n_samples, n_selected)
            0, 1 or 2 copies of A1, NaN for a missing call.
        """
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise ValueError(f"dtype must be a floating dtype (missing calls are NaN), got {dtype}")
        idx = _normalize_index(index, self.n_variants)
        if self.kind == "plink":
            return self._read_beds(idx, dtype)
        if self._cache is None:
            raise RuntimeError(f"this {self.kind} panel has no dosages in memory")
        codes = self._cache[idx]  # (n_selected, n_samples) int8
        out = codes.T.astype(dtype)
        out[codes.T < 0] = np.nan
        return out

    def _read_beds(self, idx: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """Dosages of the variants at ``idx`` from the .bed file(s), (n_samples, idx.size)."""
        from bed_reader import open_bed

        out = np.empty((self.n_samples, idx.size), dtype=dtype, order="F")
        if idx.size == 0:
            return out
        first = np.asarray(self._first, dtype=np.intp)
        counts = np.diff(np.append(first, self.n_variants))
        part = np.searchsorted(first, idx, side="right") - 1
        for k in np.unique(part):
            sel = part == k
            # Passing the counts spares bed-reader re-reading the .fam and .bim files.
            with open_bed(
                self._beds[k],
                iid_count=self.n_samples,
                sid_count=int(counts[k]),
                count_A1=True,
            ) as bed:
                block = bed.read(index=np.s_[:, idx[sel] - first[k]], dtype=dtype, order="F")
            if sel.all():
                return block
            out[:, sel] = block
        return out


def _normalize_index(index: np.ndarray | slice | None, n: int) -> np.ndarray:
    if index is None:
        return np.arange(n, dtype=np.intp)
    if isinstance(index, slice):
        return np.arange(n, dtype=np.intp)[index]
    index = np.asarray(index)
    if index.dtype == bool:
        if index.shape != (n,):
            raise ValueError(f"boolean index has shape {index.shape}, expected ({n},)")
        return np.flatnonzero(index)
    if index.ndim != 1 or (index.size and index.dtype.kind not in "iu"):
        raise ValueError(
            "index must be a 1-d array of integer positions, a boolean mask or a slice"
        )
    index = index.astype(np.intp)
    if index.size and (index.min() < -n or index.max() >= n):
        raise IndexError(f"variant index out of range for {n} variants")
    return index % n if n else index


def _chrom_codes(values: np.ndarray, file: Path) -> np.ndarray:
    """PLINK codes of chromosome names read from a header-less file (row = line number)."""
    codes = chrom_codes(pd.Series(values, dtype=object).astype(str))
    bad = np.flatnonzero(codes == 0)
    if bad.size:
        i = int(bad[0])
        raise InputError(
            f"unrecognised chromosome {str(values[i])!r}",
            file=file,
            row=i + 1,
            column="CHR",
            fix="use 1-22, X, Y, XY or MT, with or without a 'chr' prefix",
        )
    return codes


def _plink_paths(prefix: str | Path) -> tuple[Path, Path, Path, Path]:
    p = Path(prefix)
    if p.suffix in (".bed", ".bim", ".fam"):
        p = p.with_suffix("")
    bed, bim, fam = (p.with_name(p.name + s) for s in (".bed", ".bim", ".fam"))
    return p, bed, bim, fam


def read_plink(prefix: str | Path, *, chroms: list[int] | None = None) -> GenotypePanel:
    """Open a PLINK 1 binary fileset (``.bed/.bim/.fam``), or one fileset per chromosome.

    Parameters
    ----------
    prefix:
        The fileset prefix, with or without the ``.bed`` suffix. An ``@`` in the file name
        stands for the chromosome (LDSC's convention, as 1000 Genomes references are
        distributed: ``1000G.EUR.@`` for ``1000G.EUR.1.bed`` ... ``1000G.EUR.22.bed``); the
        filesets that exist are read in chromosome order and concatenated.
    chroms:
        With ``@``: read only these chromosomes' filesets (PLINK codes). Ignored otherwise (the
        LD builder filters variants by chromosome itself).

    Returns
    -------
    GenotypePanel
        ``kind="plink"``; dosages are read lazily. A1 (counted) is the fifth ``.bim`` column.

    Raises
    ------
    InputError
        If a file of the set is missing or the ``.bim`` has an unrecognised chromosome; with
        ``@``, if no fileset matches, or a fileset's samples (``.fam``) differ from the first's.

    Notes
    -----
    With ``@`` a fileset is any ``.bed`` whose name has, in place of ``@``, a chromosome label
    by the one rule (:func:`deepwas.io.variants.chrom_code`: ``1`` ... ``22``, ``X``/``23``,
    ``Y``, ``XY``, ``MT``/``M``, any case, with or without ``chr`` or leading zeros); other
    files are ignored, and a chromosome whose fileset exists under two names is an error.
    """
    p = Path(prefix)
    if p.suffix == ".bed":
        p = p.with_suffix("")
    if "@" in p.name:
        return _read_plink_split(p, chroms=chroms)
    return _read_plink_one(p)


def _split_filesets(p: Path) -> dict[int, list[Path]]:
    """The per-chromosome filesets of ``p`` (a prefix with ``@``): chromosome code -> prefixes.

    A fileset is a ``.bed`` beside ``p`` whose name is ``p``'s with every ``@`` replaced by one
    label that :func:`~deepwas.io.variants.chrom_code` recognises; a chromosome's prefixes
    are listed with its display name (``X``) first.
    """
    parts = [re.escape(part) for part in p.name.split("@")]
    label = "(?P<c>.+)" + "(?P=c)".join(parts[1:])  # every '@' the same label
    name = re.compile(parts[0] + label + r"\.bed")
    found: dict[int, list[Path]] = {}
    for f in p.parent.iterdir() if p.parent.is_dir() else ():
        m = name.fullmatch(f.name)
        code = chrom_code(m.group("c")) if m else 0
        if code and f.is_file():
            found.setdefault(code, []).append(f.with_name(f.name.removesuffix(".bed")))
    for code, hits in found.items():
        hits.sort(key=lambda q: (q.name != p.name.replace("@", chrom_label(code)), q.name))
    return found


def _read_plink_split(p: Path, *, chroms: list[int] | None) -> GenotypePanel:
    """Read ``p`` (a prefix with ``@``) as one fileset per chromosome and concatenate them."""
    by_code = _split_filesets(p)
    if chroms is not None:
        wanted = {int(c) for c in chroms}
        by_code = {c: hits for c, hits in by_code.items() if c in wanted}
    found: list[Path] = []
    for code in sorted(by_code):
        hits = by_code[code]
        if len(hits) > 1:
            raise InputError(
                f"chromosome {chrom_label(code)} has two filesets: {hits[0]}.bed and {hits[1]}.bed",
                file=hits[1].with_name(hits[1].name + ".bed"),
                fix="keep one fileset per chromosome",
            )
        found += hits
    if not found:
        which = "" if chroms is None else f" for chromosome(s) {sorted(int(c) for c in chroms)}"
        first = p.with_name(p.name.replace("@", "1") + ".bed")
        raise InputError(
            f"no PLINK fileset matches {p}{which} ('@' stands for the chromosome: 1-22, X, ...)",
            file=first,
            fix="give the prefix of per-chromosome .bed/.bim/.fam sets, e.g. 1000G.EUR.@ for "
            "1000G.EUR.1.bed ... 1000G.EUR.22.bed",
        )
    parts = [_read_plink_one(f) for f in found]
    head = parts[0]
    for f, part in zip(found[1:], parts[1:], strict=True):
        if not part.samples.equals(head.samples):
            raise InputError(
                f"its samples differ from those of {found[0]}.fam ({part.n_samples} and "
                f"{head.n_samples} samples); the per-chromosome filesets must list the same "
                "samples in the same order",
                file=f.with_name(f.name + ".fam"),
                fix="re-export the filesets from one sample list (e.g. plink --keep)",
            )
    first = np.cumsum([0] + [q.n_variants for q in parts[:-1]]).tolist()
    return GenotypePanel(
        variants=pd.concat([q.variants for q in parts], ignore_index=True),
        samples=head.samples,
        source=str(p),
        kind="plink",
        _beds=tuple(q._beds[0] for q in parts),
        _first=tuple(int(i) for i in first),
    )


def _read_plink_one(prefix: Path) -> GenotypePanel:
    """Open one PLINK fileset (no ``@``)."""
    from bed_reader import open_bed

    p, bed, bim, fam = _plink_paths(prefix)
    for f in (bed, bim, fam):
        if not f.is_file():
            raise InputError(
                "PLINK file not found",
                file=f,
                fix="give the prefix of an existing .bed/.bim/.fam set",
            )
    try:
        with open_bed(bed, count_A1=True) as b:
            chrom = np.asarray(b.chromosome)
            sid = np.asarray(b.sid).astype(str)
            cm = np.asarray(b.cm_position, dtype=np.float64)
            bp = np.asarray(b.bp_position, dtype=np.int64)
            a1 = np.asarray(b.allele_1).astype(str)
            a2 = np.asarray(b.allele_2).astype(str)
            fid = np.asarray(b.fid).astype(str)
            iid = np.asarray(b.iid).astype(str)
            if b.shape != (iid.size, sid.size):  # pragma: no cover - bed-reader checks this
                raise InputError("the .bed does not match the .fam/.bim sizes", file=bed)
    except InputError:
        raise
    except Exception as exc:  # bed-reader raises ValueError/OSError on malformed files
        raise InputError(
            f"cannot read PLINK fileset: {exc}", file=bed, fix="check the .bed/.bim/.fam files"
        ) from exc
    variants = pd.DataFrame(
        {
            "CHR": _chrom_codes(chrom, bim),
            "SNP": sid,
            "BP": bp,
            "A1": np.char.upper(a1),
            "A2": np.char.upper(a2),
            "CM": cm,
            "AF1": np.full(sid.size, np.nan),
        }
    )
    samples = pd.DataFrame({"FID": fid, "IID": iid})
    return GenotypePanel(
        variants=variants, samples=samples, source=str(p), kind="plink", _beds=(bed,), _first=(0,)
    )


def read_vcf(path: str | Path) -> GenotypePanel:
    """Read the biallelic SNVs of a VCF/BCF file into memory.

    Parameters
    ----------
    path:
        ``.vcf``, ``.vcf.gz`` or ``.bcf``, with a ``GT`` field (phased or unphased).

    Returns
    -------
    GenotypePanel
        ``kind="vcf"``; A1 = ALT (counted), A2 = REF; ``SNP`` is the ID, or ``CHR:POS:REF:ALT``
        (CHR as a PLINK label, ``22`` for ``chr22``) when the ID is ``.``.

    Warns
    -----
    UserWarning
        Once, with the counts of the records skipped (multi-allelic, not an SNV, other contigs).

    Raises
    ------
    InputError
        If the file is missing, unreadable, or has no samples or no biallelic SNV.
    """
    import cyvcf2

    path = Path(path)
    if not path.is_file():
        raise InputError("VCF file not found", file=path, fix="check the path")
    try:
        vcf = cyvcf2.VCF(str(path), gts012=True, lazy=True)
    except Exception as exc:
        if _compressed_twice(path):
            raise InputError(
                "cannot open VCF: the file is gzip-compressed twice (e.g. a BCF that Debian "
                "gzipped under /usr/share/doc)",
                file=path,
                fix=f"decompress it once, gunzip -c {path.name} > {_once_name(path)}, and give "
                "that file",
            ) from exc
        raise InputError(f"cannot open VCF: {exc}", file=path, fix="check the file format") from exc
    sample_names = list(vcf.samples)
    if not sample_names:
        vcf.close()
        raise InputError("VCF has no samples", file=path, fix="use a VCF with genotype columns")
    n = len(sample_names)
    chrom, snp, bp, a1, a2, rows = [], [], [], [], [], []
    skipped = {"multi-allelic": 0, "not a biallelic SNV": 0, "other contig": 0}
    contig_codes: dict[str, int] = {}  # 0: not a chromosome
    try:
        for rec in vcf:
            alts = rec.ALT
            if len(alts) != 1:
                skipped["multi-allelic" if len(alts) > 1 else "not a biallelic SNV"] += 1
                continue
            ref, alt = rec.REF.upper(), alts[0].upper()
            if len(ref) != 1 or len(alt) != 1 or ref not in _SNV or alt not in _SNV:
                skipped["not a biallelic SNV"] += 1
                continue
            name = rec.CHROM
            if name not in contig_codes:
                contig_codes[name] = chrom_code(name)
            code = contig_codes[name]
            if code == 0:
                skipped["other contig"] += 1
                continue
            gt = rec.genotype.array()[:, :-1]  # (n, ploidy); -1 missing, -2 haploid padding
            alleles = gt[:, :2]
            present = alleles != -2
            missing = np.any(alleles == -1, axis=1) | ~present.any(axis=1)
            dose = np.where(present, alleles, 0).sum(axis=1)
            haploid = present.sum(axis=1) == 1
            dose = np.where(haploid, 2 * dose, dose)
            row = np.where(missing, -1, dose).astype(np.int8)
            pos = int(rec.POS)
            chrom.append(code)
            bp.append(pos)
            snp.append(rec.ID if rec.ID else f"{chrom_label(code)}:{pos}:{ref}:{alt}")
            a1.append(alt)
            a2.append(ref)
            rows.append(row)
    except Exception as exc:
        raise InputError(f"cannot parse VCF: {exc}", file=path, fix="check the file") from exc
    finally:
        vcf.close()
    n_skipped = sum(skipped.values())
    if n_skipped:
        detail = ", ".join(f"{v} {k}" for k, v in skipped.items() if v)
        warnings.warn(
            f"{path}: skipped {n_skipped} of {n_skipped + len(rows)} records ({detail}); "
            "only biallelic SNVs are used",
            UserWarning,
            stacklevel=2,
        )
    if not rows:
        raise InputError("VCF has no biallelic SNV", file=path, fix="check the file")
    cache = np.stack(rows) if rows else np.empty((0, n), dtype=np.int8)
    variants = pd.DataFrame(
        {
            "CHR": np.asarray(chrom, dtype=np.int64),
            "SNP": np.asarray(snp, dtype=object).astype(str),
            "BP": np.asarray(bp, dtype=np.int64),
            "A1": np.asarray(a1, dtype=object).astype(str),
            "A2": np.asarray(a2, dtype=object).astype(str),
            "CM": np.full(len(rows), np.nan),
            "AF1": np.full(len(rows), np.nan),
        }
    )
    samples = pd.DataFrame({"FID": sample_names, "IID": sample_names})
    return GenotypePanel(
        variants=variants, samples=samples, source=str(path), kind="vcf", _cache=cache
    )


def _compressed_twice(path: Path) -> bool:
    """Whether the file is gzip inside gzip (a BGZF VCF or a BCF gzipped again)."""
    import gzip

    try:
        with gzip.open(path) as fh:
            return fh.read(2) == b"\x1f\x8b"
    except (OSError, EOFError):
        return False


def _once_name(path: Path) -> str:
    """The name to give ``path`` once it is decompressed once: x.bcf.gz -> x.bcf."""
    name = path.name
    return name.removesuffix(".gz") if name.endswith((".bcf.gz", ".vcf.gz.gz")) else name + ".1"


def read_genotypes(path: str | Path, *, chroms: list[int] | None = None) -> GenotypePanel:
    """Open a reference panel: ``.vcf``/``.vcf.gz``/``.bcf`` with :func:`read_vcf`, anything
    else as a PLINK prefix (``x``, ``x.bed``, or ``x.@`` for one fileset per chromosome) with
    :func:`read_plink` (``chroms`` restricts which per-chromosome filesets are read)."""
    name = str(path).lower()
    if name.endswith(_VCF_SUFFIXES):
        return read_vcf(path)
    return read_plink(path, chroms=chroms)


def _checked_table(dosages: np.ndarray, variants: pd.DataFrame) -> pd.DataFrame:
    """Validate hard-called dosages against a variant table; return the table as a panel's."""
    if dosages.ndim != 2:
        raise InputError(f"dosages must be 2-d, got shape {dosages.shape}", column="dosages")
    m = dosages.shape[1]
    missing_cols = [c for c in ("CHR", "SNP", "BP", "A1", "A2") if c not in variants.columns]
    if missing_cols:
        raise InputError(f"variants lack columns {missing_cols}", column="variants")
    if len(variants) != m:
        raise InputError(f"{len(variants)} variants for {m} dosage columns", column="variants")
    finite = dosages[~np.isnan(dosages)]
    if not np.isin(finite, (0.0, 1.0, 2.0)).all():
        raise InputError(
            "dosages must be 0, 1, 2 or NaN", column="dosages", fix="round or hard-call them first"
        )
    nan = np.full(m, np.nan)
    return pd.DataFrame(
        {
            "CHR": normalize_chrom(variants["CHR"]),
            "SNP": variants["SNP"].astype(str).to_numpy(),
            "BP": variants["BP"].to_numpy(dtype=np.int64),
            "A1": variants["A1"].astype(str).str.upper().to_numpy(),
            "A2": variants["A2"].astype(str).str.upper().to_numpy(),
            "CM": variants["CM"].to_numpy(dtype=np.float64) if "CM" in variants else nan,
            "AF1": variants["AF1"].to_numpy(dtype=np.float64) if "AF1" in variants else nan,
        }
    )


def write_plink(
    prefix: str | Path,
    dosages: np.ndarray,
    variants: pd.DataFrame,
    samples: pd.DataFrame | None = None,
) -> None:
    """Write a PLINK 1 binary fileset; the three files appear together or not at all.

    Parameters
    ----------
    prefix:
        Output prefix (a trailing ``.bed`` is accepted).
    dosages: (n_samples, n_variants)
        Counts of A1 (0, 1, 2), NaN for missing.
    variants: pandas.DataFrame, (n_variants, >=5)
        ``CHR SNP BP A1 A2`` and optionally ``CM``; A1 becomes the fifth ``.bim`` column.
    samples: pandas.DataFrame, (n_samples, 2), optional
        ``FID IID``; defaults to ``sample1..sampleN`` for both.

    Raises
    ------
    InputError
        If shapes disagree, a column is missing, or a dosage is not 0, 1, 2 or NaN.
    """
    from bed_reader import to_bed

    dosages = np.asarray(dosages, dtype=np.float64)
    _checked_table(dosages, variants)
    n, m = dosages.shape
    if samples is None:
        names = [f"sample{i + 1}" for i in range(n)]
        samples = pd.DataFrame({"FID": names, "IID": names})
    if len(samples) != n:
        raise InputError(f"{len(samples)} samples for {n} dosage rows", column="samples")
    cm = variants["CM"].to_numpy(dtype=np.float64) if "CM" in variants else np.zeros(m)
    properties = {
        "fid": samples["FID"].astype(str).tolist(),
        "iid": samples["IID"].astype(str).tolist(),
        "chromosome": [chrom_label(c) for c in normalize_chrom(variants["CHR"])],
        "sid": variants["SNP"].astype(str).tolist(),
        "cm_position": np.nan_to_num(cm, nan=0.0).tolist(),
        "bp_position": variants["BP"].to_numpy(dtype=np.int64).tolist(),
        "allele_1": variants["A1"].astype(str).tolist(),
        "allele_2": variants["A2"].astype(str).tolist(),
    }
    p, bed, bim, fam = _plink_paths(prefix)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent))
    tmp = {s: tmpdir / f"out{s}" for s in (".bed", ".bim", ".fam")}
    try:
        to_bed(
            tmp[".bed"],
            dosages,
            properties=properties,
            count_A1=True,
            fam_filepath=tmp[".fam"],
            bim_filepath=tmp[".bim"],
        )
        # .bed last: a reader that finds the .bed finds its .bim/.fam of the same write.
        os.replace(tmp[".fam"], fam)
        os.replace(tmp[".bim"], bim)
        os.replace(tmp[".bed"], bed)
    finally:
        for f in tmp.values():
            f.unlink(missing_ok=True)
        tmpdir.rmdir()


def standardize(dosages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean-impute, centre and scale each variant to unit variance.

    Parameters
    ----------
    dosages: (n_samples, n_variants)
        Counts of A1, NaN for missing.

    Returns
    -------
    X: (n_samples, n_variants) float64
        Standardised genotypes: every column has mean 0 and population variance
        (``sum(x^2) / n_samples``) 1.
    af1: (n_variants,) float64
        Frequency of A1 among the observed calls, ``sum(dosage) / (2 * n_observed)``.

    Raises
    ------
    ValueError
        If a column is monomorphic or entirely missing (callers filter by MAF first).

    Notes
    -----
    Missing calls are replaced by the column's observed mean, and the scale is computed **after**
    imputation, so ``X^T X / n_samples`` has an exactly unit diagonal (up to round-off): an
    imputed call contributes nothing to the variance rather than inflating the correlations.
    """
    X = np.array(dosages, dtype=np.float64, copy=True, order="F")
    if X.ndim != 2:
        raise ValueError(f"dosages must be 2-d, got shape {X.shape}")
    n = X.shape[0]
    observed = ~np.isnan(X)
    n_obs = observed.sum(axis=0)
    X[~observed] = 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = X.sum(axis=0) / n_obs
    af1 = mean / 2.0
    X -= mean
    X[~observed] = 0.0  # mean imputation, already centred
    sd = np.sqrt(np.einsum("ij,ij->j", X, X) / n) if n else np.zeros(X.shape[1])
    bad = np.flatnonzero(~(np.isfinite(sd) & (sd > 1e-12 * np.maximum(1.0, np.abs(mean)))))
    if bad.size:
        shown = ", ".join(map(str, bad[:10].tolist())) + (" ..." if bad.size > 10 else "")
        raise ValueError(
            f"{bad.size} monomorphic or all-missing variant column(s) cannot be standardised: "
            f"columns {shown}; filter variants by minor allele frequency first"
        )
    X /= sd
    return X, af1
