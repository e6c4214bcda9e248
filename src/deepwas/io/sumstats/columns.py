"""Column resolution of summary statistics: the file formats, their column aliases, format
detection, and the plan of a read (which columns give SNP, alleles, Z and N).
"""

from __future__ import annotations

from dataclasses import dataclass

from deepwas.errors import InputError

__all__ = ["FORMATS", "USER_COLUMNS", "detect_format"]

FORMATS = ("ldsc", "fastgwa", "plink2", "bolt", "cojo", "gwas-ssf", "generic")

# Canonical names a user may map with ``columns=``.
USER_COLUMNS = (
    "SNP", "CHR", "BP", "A1", "A2", "Z", "BETA", "SE", "OR", "P", "N", "NCASE", "NCONTROL",
    "AF1", "MAF", "INFO",
)  # fmt: skip

# Generic aliases, matched case-insensitively after dropping a leading '#'; first found wins.
# REF/ALT/OMITTED are internal: they resolve the other allele of PLINK-style files.
_GENERIC: dict[str, tuple[str, ...]] = {
    "SNP": ("SNP", "RSID", "MARKERNAME", "ID", "VARIANT_ID", "SNPID", "SNP_ID", "RS_ID", "MARKER"),
    "CHR": ("CHR", "CHROM", "CHROMOSOME"),
    "BP": ("BP", "POS", "POSITION", "BASE_PAIR_LOCATION"),
    "A1": ("A1", "EA", "ALLELE1", "EFFECT_ALLELE", "TESTED_ALLELE", "ALT"),
    "A2": ("A2", "NEA", "ALLELE0", "OTHER_ALLELE", "ALLELE2", "NON_EFFECT_ALLELE"),
    "REF": ("REF",),
    "ALT": ("ALT",),
    "OMITTED": ("OMITTED",),
    "TEST": ("TEST",),
    "Z": ("Z", "ZSCORE", "Z_SCORE", "Z_STAT", "ZSTAT", "T_STAT", "TSTAT"),
    "BETA": ("BETA", "B", "EFFECT", "LOG_ODDS"),
    "SE": ("SE", "STDERR", "STANDARD_ERROR", "LOG(OR)_SE", "SEBETA", "SE_BETA"),
    "OR": ("OR", "ODDS_RATIO"),
    "HR": ("HR", "HAZARD_RATIO"),
    "P": ("P", "PVAL", "P_VALUE", "PVALUE", "P-VALUE"),
    "LOG10P": ("NEG_LOG_10_P_VALUE", "LOG10_P", "LOG10P", "MLOG10P", "NEG_LOG10_P"),
    "N": ("N", "NEFF", "N_EFF", "OBS_CT", "NMISS", "N_TOTAL", "SAMPLESIZE", "SAMPLE_SIZE"),
    "NCASE": ("NCASE", "N_CASE", "N_CASES", "NCAS"),
    "NCONTROL": ("NCONTROL", "N_CONTROL", "N_CONTROLS", "NCON", "NCONT"),
    "AF1": ("FRQ", "EAF", "AF1", "A1FREQ", "A1_FREQ", "FREQ", "EFFECT_ALLELE_FREQUENCY", "FREQ1"),
    "MAF": ("MAF",),
    "INFO": ("INFO", "IMPINFO", "INFO_SCORE"),
}

# Named formats: their own column names, and the columns without which a file is not of that format.
_SPECS: dict[str, dict[str, tuple[str, ...]]] = {
    "ldsc": {
        "SNP": ("SNP",), "A1": ("A1",), "A2": ("A2",), "Z": ("Z",), "N": ("N",),
        "CHR": ("CHR",), "BP": ("BP",),
    },
    "fastgwa": {
        "CHR": ("CHR",), "SNP": ("SNP",), "BP": ("POS",), "A1": ("A1",), "A2": ("A2",),
        "N": ("N",), "AF1": ("AF1",), "BETA": ("BETA",), "SE": ("SE",), "P": ("P",),
        "INFO": ("INFO",),
    },
    "plink2": {
        "CHR": ("CHROM",), "BP": ("POS",), "SNP": ("ID",), "REF": ("REF",), "ALT": ("ALT",),
        "A1": ("A1", "ALT"), "OMITTED": ("OMITTED",), "AF1": ("A1_FREQ",), "TEST": ("TEST",),
        "N": ("OBS_CT",), "BETA": ("BETA",), "OR": ("OR",), "SE": ("LOG(OR)_SE", "SE"),
        "Z": ("Z_STAT", "T_STAT"), "P": ("P",), "LOG10P": ("LOG10_P",), "INFO": ("MACH_R2",),
    },
    "bolt": {
        "SNP": ("SNP",), "CHR": ("CHR",), "BP": ("BP",), "A1": ("ALLELE1",), "A2": ("ALLELE0",),
        "AF1": ("A1FREQ",), "INFO": ("INFO",), "BETA": ("BETA",), "SE": ("SE",),
        "P": ("P_BOLT_LMM", "P_BOLT_LMM_INF", "P_LINREG"), "N": ("N",),
    },
    "cojo": {
        "SNP": ("SNP",), "A1": ("A1",), "A2": ("A2",), "AF1": ("FREQ",), "BETA": ("B",),
        "SE": ("SE",), "P": ("P",), "N": ("N",),
    },
    "gwas-ssf": {
        "CHR": ("CHROMOSOME",), "BP": ("BASE_PAIR_LOCATION",), "A1": ("EFFECT_ALLELE",),
        "A2": ("OTHER_ALLELE",), "BETA": ("BETA",), "OR": ("ODDS_RATIO",),
        "HR": ("HAZARD_RATIO",), "SE": ("STANDARD_ERROR",), "AF1": ("EFFECT_ALLELE_FREQUENCY",),
        "P": ("P_VALUE",), "LOG10P": ("NEG_LOG_10_P_VALUE",), "SNP": ("RSID",),
        "SNP2": ("VARIANT_ID",), "N": ("N",), "INFO": ("INFO",),
    },
}  # fmt: skip
_REQUIRED: dict[str, tuple[str, ...]] = {
    "ldsc": ("SNP", "A1", "A2", "Z"),
    "fastgwa": ("CHR", "SNP", "POS", "A1", "A2"),
    "plink2": ("CHROM", "POS", "ID", "REF", "ALT"),
    "bolt": ("SNP", "ALLELE1", "ALLELE0"),
    "cojo": ("SNP", "A1", "A2", "FREQ", "B", "SE"),
    "gwas-ssf": ("CHROMOSOME", "BASE_PAIR_LOCATION", "EFFECT_ALLELE", "OTHER_ALLELE"),
}
_NUMERIC = (
    "BP", "Z", "BETA", "SE", "OR", "HR", "P", "LOG10P", "N", "NCASE", "NCONTROL",
    "AF1", "MAF", "INFO",
)  # fmt: skip


def _norm(name: str) -> str:
    return str(name).strip().lstrip("#").strip().upper()


def detect_format(header: list[str]) -> str:
    """Name the sumstats format a header belongs to.

    Parameters
    ----------
    header: (n_columns,)
        Column names as written in the file (case and a leading ``#`` are ignored).

    Returns
    -------
    str
        One of ``"plink2"``, ``"gwas-ssf"``, ``"bolt"``, ``"fastgwa"``, ``"cojo"``, ``"ldsc"`` or
        ``"generic"`` (anything else; columns are then found by their common aliases).
    """
    names = {_norm(h) for h in header}
    if {"CHROM", "POS", "ID", "REF", "ALT"} <= names:
        return "plink2"
    if set(_REQUIRED["gwas-ssf"]) <= names:
        return "gwas-ssf"
    if {"SNP", "CHR", "BP", "ALLELE1", "ALLELE0", "A1FREQ", "BETA", "SE"} <= names:
        return "bolt"
    if {"CHR", "SNP", "POS", "A1", "A2", "AF1", "BETA", "SE"} <= names:
        return "fastgwa"
    if names == {"SNP", "A1", "A2", "FREQ", "B", "SE", "P", "N"}:
        return "cojo"
    if {"SNP", "A1", "A2", "Z"} <= names <= {"SNP", "A1", "A2", "Z", "N", "CHR", "BP"}:
        return "ldsc"
    return "generic"


def _resolve(
    header: list[str], fmt: str, columns: dict[str, str] | None, file: str
) -> dict[str, str]:
    """Map canonical names (and REF/ALT/OMITTED/TEST/SNP2/LOG10P/HR) to file column names."""
    by_norm: dict[str, str] = {}
    for h in header:
        by_norm.setdefault(_norm(h), h)
    if fmt != "generic":
        for need in _REQUIRED[fmt]:
            if need not in by_norm:
                raise InputError(
                    f"not a {fmt} file: it has no column {need}",
                    file=file,
                    column=need,
                    fix="pass fmt='auto' or the right format, or map columns explicitly",
                )
    spec = _GENERIC if fmt == "generic" else _SPECS[fmt]
    mapping: dict[str, str] = {}
    for canon, aliases in spec.items():
        for alias in aliases:
            if alias in by_norm:
                mapping[canon] = by_norm[alias]
                break
    if columns:
        for canon, col in columns.items():
            key = str(canon).upper()
            if key not in USER_COLUMNS:
                raise InputError(
                    f"unknown canonical name {canon!r} in columns",
                    column="columns",
                    fix=f"use names among {', '.join(USER_COLUMNS)}",
                )
            if col in header:
                actual = col
            elif _norm(col) in by_norm:
                actual = by_norm[_norm(col)]
            else:
                raise InputError(
                    f"columns maps {key} to {col!r}, which is not in the header "
                    f"({', '.join(header)})",
                    file=file,
                    column=col,
                    fix="spell the column as in the file",
                )
            for other, mapped in list(mapping.items()):
                if mapped == actual and other != key:
                    del mapping[other]
            mapping[key] = actual
            if key == "A2":
                for k in ("REF", "ALT", "OMITTED"):
                    mapping.pop(k, None)
    # The other allele of PLINK-style files (A1 + REF/ALT, or ALT alone as effect allele).
    if "A1" in mapping and "A2" not in mapping:
        if "OMITTED" in mapping:
            mapping["A2"] = mapping["OMITTED"]
        elif "REF" in mapping and mapping["A1"] == mapping.get("ALT"):
            mapping["A2"] = mapping["REF"]
        elif "REF" in mapping and "ALT" not in mapping:
            mapping["A2"] = mapping["REF"]
    if "A1" not in mapping and "REF" in mapping and "ALT" in mapping and "A2" not in mapping:
        mapping["A1"], mapping["A2"] = mapping["ALT"], mapping["REF"]
    return mapping


def _fmt_n(n_gwas: float) -> str:
    return str(int(n_gwas)) if float(n_gwas).is_integer() else repr(float(n_gwas))


@dataclass(frozen=True)
class _Plan:
    """What a read uses, decided from the header alone.

    ``m`` maps canonical names to file columns (see :func:`_resolve`); ``effect`` is the signed
    effect column among BETA/OR/HR (None if none); ``numeric`` and ``text_keys`` are the canonical
    columns parsed as numbers and as text; ``used`` the file columns read.
    """

    m: dict[str, str]
    z_source: str
    effect: str | None
    n_source: str
    numeric: list[str]
    text_keys: list[str]
    used: list[str]


def _plan_columns(
    header: list[str], fmt: str, m: dict[str, str], file: str, n_gwas: float | None
) -> _Plan:
    """Check that the resolved columns ``m`` can give SNP, alleles, Z and N; choose the columns.

    Raises
    ------
    InputError
        No SNP identifier, no effect or other allele, no way to derive Z, or no sample size,
        each naming the columns found.
    """
    found = ", ".join(header)
    ssf_ids = fmt == "gwas-ssf" and ("SNP2" in m or {"CHR", "BP"} <= set(m))
    if "SNP" not in m and not ssf_ids:
        raise InputError(
            f"no SNP identifier column (found: {found})",
            file=file,
            fix="name it SNP, RSID or MarkerName, or pass columns={'SNP': '<column>'}",
        )
    other_from_ref_alt = "A2" not in m and "REF" in m and "ALT" in m
    if "A1" not in m or ("A2" not in m and not other_from_ref_alt):
        which = "effect allele (A1)" if "A1" not in m else "other allele (A2)"
        raise InputError(
            f"no {which} column (found: {found})",
            file=file,
            fix="name the alleles A1/A2 (or EA/NEA, ALLELE1/ALLELE0), or pass columns=",
        )
    effect = next((k for k in ("BETA", "OR", "HR") if k in m), None)
    has_p = "P" in m or "LOG10P" in m
    if "Z" in m:
        z_source = "T_STAT" if _norm(m["Z"]).startswith("T") else "Z"
    elif effect is not None and "SE" in m:
        label = "LOG_ODDS" if effect == "BETA" and _norm(m["BETA"]) == "LOG_ODDS" else effect
        z_source = f"{label}/SE"
    elif effect is not None and has_p:
        z_source = f"P+sign({effect})"
    else:
        why = "P without a signed effect (BETA or OR)" if has_p else "no Z"
        raise InputError(
            f"cannot derive Z: {why}; need Z, BETA+SE, OR+SE or P+BETA (found: {found})",
            file=file,
            fix="add the missing column or map it with columns=",
        )
    if n_gwas is not None:
        n_source = f"--n-gwas {_fmt_n(n_gwas)}"
    elif "N" in m:
        n_source = f"column {m['N']}"
    elif "NCASE" in m and "NCONTROL" in m:
        n_source = f"{m['NCASE']}+{m['NCONTROL']}"
    else:
        raise InputError(
            f"no sample size: no N column and no NCASE+NCONTROL (found: {found})",
            file=file,
            fix="pass the GWAS sample size with --n-gwas",
        )
    wanted = {"BP", "AF1", "MAF", "INFO", "P", "LOG10P"}
    if z_source in ("Z", "T_STAT"):
        wanted.add("Z")
    else:
        wanted |= {effect, "SE"}
    if n_gwas is None:
        wanted |= {"N", "NCASE", "NCONTROL"} if "N" not in m else {"N"}
    numeric = [k for k in _NUMERIC if k in m and k in wanted]
    text_keys = [k for k in ("SNP", "SNP2", "A1", "A2", "REF", "ALT", "OMITTED", "TEST") if k in m]
    used = list(
        dict.fromkeys([m[k] for k in (*text_keys, *numeric)] + ([m["CHR"]] if "CHR" in m else []))
    )
    return _Plan(m, z_source, effect, n_source, numeric, text_keys, used)
