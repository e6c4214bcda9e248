"""The sequence around each variant and its strand-blind encoder: reading a reference (plain and
``chr`` names, padding beyond contig ends, missing chromosomes, read-only folders, .2bit),
variant windows against a naive per-variant loop, lossless packing, exact reverse-complement
invariance (per layer and overall, and not vacuously), and recovery of a planted motif on
either strand by training the encoder on ref-vs-alt differences."""

from __future__ import annotations

import gzip
import sys
import types
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import deepwas.sequence as sequence
from deepwas.errors import InputError
from deepwas.sequence import (
    RCEncoder,
    open_reference,
    pack_tokens,
    rc_tokens,
    unpack_tokens,
    variant_feature,
    variant_tokens,
)

F64 = torch.float64
BASES = "ACGT"


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def _write_fasta(path, contigs: dict[str, str], line: int = 60):
    with open(path, "w") as f:
        for name, seq in contigs.items():
            f.write(f">{name} some description\n")
            for i in range(0, len(seq), line):
                f.write(seq[i : i + line] + "\n")
    return path


def _random_seq(rng, n: int) -> str:
    return "".join(rng.choice(list(BASES), n))


def _naive_window(seq: str, pos0: int, flank: int) -> str:
    """The slow, obvious window: position by position, N outside the contig."""
    return "".join(
        seq[j].upper() if 0 <= j < len(seq) else "N" for j in range(pos0 - flank, pos0 + flank + 1)
    )


def _tok(s: str) -> list[int]:
    return ["ACGT".index(c) if c in "ACGT" else 4 for c in s]


# --------------------------------------------------------------------------------------------
# open_reference
# --------------------------------------------------------------------------------------------


def test_fetch_upper_case_and_padding(tmp_path):
    ref = open_reference(_write_fasta(tmp_path / "g.fa", {"chr1": "acgtNNACGTa", "chr2": "GG"}))
    assert ref.contigs == {"chr1": 11, "chr2": 2}
    assert ref.fetch("chr1", 0, 11) == "ACGTNNACGTA"
    assert ref.fetch("chr1", -3, 2) == "NNNAC"  # before the start
    assert ref.fetch("chr1", 9, 14) == "TANNN"  # past the end
    assert ref.fetch("chr2", -2, 4) == "NNGGNN"  # both sides
    assert ref.fetch("chr2", 5, 8) == "NNN"  # wholly outside
    assert ref.fetch("chr2", 1, 1) == ""


@pytest.mark.parametrize("prefix", ["chr", ""])
def test_chromosome_names_either_style(tmp_path, prefix):
    ref = open_reference(
        _write_fasta(tmp_path / "g.fa", {f"{prefix}22": "ACGTA", f"{prefix}X": "TTGCA"})
    )
    for label in (22, "22", "chr22", "CHR22", 22.0, "22.0"):
        assert ref.fetch(label, 1, 3) == "CG", label
    for label in (23, "23", "X", "chrX", "x"):
        assert ref.fetch(label, 0, 2) == "TT", label


def test_missing_chromosome_is_one_line_error(tmp_path):
    names = {f"chr{i}": "ACGT" for i in range(1, 9)}
    ref = open_reference(_write_fasta(tmp_path / "g.fa", names))
    with pytest.raises(InputError, match=r"chromosome '12' is not in the reference") as err:
        ref.fetch("12", 0, 2)
    text = str(err.value)
    assert "\n" not in text and "chr1, chr2" in text and "(8 in all)" in text
    variants = pd.DataFrame({"CHR": [1, 12], "BP": [2, 2], "A1": ["C", "A"], "A2": ["A", "G"]})
    with pytest.raises(InputError, match="chromosome '12'"):
        variant_tokens(ref, variants, 1)


def test_unreadable_references(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="reference genome not found"):
        open_reference(tmp_path / "absent.fa")
    ragged = tmp_path / "ragged.fa"
    ragged.write_text(">1\nACGTACGT\nACG\nACGTACGT\n")
    with pytest.raises(InputError, match="not a valid FASTA"):
        open_reference(ragged)
    plain_gz = tmp_path / "g.fa.gz"
    with gzip.open(plain_gz, "wt") as f:
        f.write(">1\nACGT\n")
    with pytest.raises(InputError, match="bgzip|BioPython"):  # BioPython absent: its message
        open_reference(plain_gz)
    two_bit = tmp_path / "g.2bit"
    two_bit.write_bytes(b"\0" * 16)
    monkeypatch.setitem(sys.modules, "py2bit", None)  # import py2bit raises ImportError
    with pytest.raises(InputError, match="pip install py2bit"):
        open_reference(two_bit)


def test_2bit_through_py2bit(tmp_path, monkeypatch):
    """The .2bit path with a stand-in for py2bit's API (open, chroms, sequence)."""
    seqs = {"chr3": "ACGTTGCA"}

    class TwoBit:
        def chroms(self):
            return {k: len(v) for k, v in seqs.items()}

        def sequence(self, name, start, end):
            return seqs[name][start:end].lower()

    fake = types.SimpleNamespace(open=lambda path: TwoBit())
    monkeypatch.setitem(sys.modules, "py2bit", fake)
    path = tmp_path / "g.2bit"
    path.write_bytes(b"")
    ref = open_reference(path)
    assert ref.fetch(3, -1, 3) == "NACG"


def test_read_only_folder_indexes_in_a_temporary_folder(tmp_path, monkeypatch):
    path = _write_fasta(tmp_path / "g.fa", {"1": "ACGTACGT"})
    monkeypatch.setattr(sequence, "_writable", lambda folder: False)
    with pytest.warns(UserWarning, match="samtools faidx"):
        ref = open_reference(path)
    assert not (tmp_path / "g.fa.fai").exists()
    assert ref.fetch("1", 2, 6) == "GTAC"
    monkeypatch.setattr(sequence, "_writable", lambda folder: True)
    open_reference(path)  # indexed next to the file
    monkeypatch.setattr(sequence, "_writable", lambda folder: False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a current index: used as it is, no warning
        assert open_reference(path).fetch("chr1", 0, 2) == "AC"


# --------------------------------------------------------------------------------------------
# variant_tokens
# --------------------------------------------------------------------------------------------


def test_ref_allele_from_either_column(tmp_path):
    ref = open_reference(_write_fasta(tmp_path / "g.fa", {"chr1": "AACGTTGCA"}))
    # BP 4 is G; alleles given as G/T, T/G, g/t
    variants = pd.DataFrame(
        {"CHR": [1, 1, 1], "BP": [4, 4, 4], "A1": ["G", "T", "g"], "A2": ["T", "G", "t"]}
    )
    tokens, report = variant_tokens(ref, variants, 2)
    assert tokens.dtype == np.int8 and tokens.shape == (3, 2, 5)
    for i in range(3):
        assert tokens[i, 0].tolist() == _tok("ACGTT")
        assert tokens[i, 1].tolist() == _tok("ACTTT")
    assert (report.n, report.n_matched, report.n_unmatched, report.n_not_snp) == (3, 3, 0, 0)
    assert report.first_unmatched is None


def test_unmatched_and_non_snps_keep_the_reference(tmp_path):
    ref = open_reference(_write_fasta(tmp_path / "g.fa", {"1": "AACGTTGCA"}))
    variants = pd.DataFrame(
        {
            "CHR": [1, 1, 1, 1, 1, 1],
            "BP": [4, 4, 4, 4, 4, 1],
            "A1": ["A", "GT", "G", "N", "G", "A"],
            "A2": ["C", "G", "-", "G", "G", "T"],
        }
    )
    tokens, report = variant_tokens(ref, variants, 3)
    assert (tokens[:5, 1] == tokens[:5, 0]).all()
    assert tokens[5, 0].tolist() == _tok("NNNAACG") and tokens[5, 1, 3] == 3
    assert (report.n_matched, report.n_unmatched, report.n_not_snp) == (1, 1, 4)
    assert report.first_unmatched == "row 1: 1:4 A/C, reference base G"
    assert report.matched.tolist() == [False] * 5 + [True]


def test_variant_tokens_match_a_naive_loop(tmp_path):
    rng = np.random.default_rng(3)
    contigs = {"chr2": _random_seq(rng, 300_000), "chr7": _random_seq(rng, 5_000)}
    contigs["chr7"] = contigs["chr7"][:100].lower() + "NNRY" + contigs["chr7"][104:]
    ref = open_reference(_write_fasta(tmp_path / "g.fa", contigs))
    n, flank = 3000, 7
    chrom = rng.choice([2, 7], n)
    # dense clusters, far-apart singletons (several fetch runs) and the contig ends
    bp = np.where(chrom == 2, rng.integers(1, 300_001, n), rng.integers(1, 5_001, n))
    bp[:4], chrom[:4] = [1, 300_000, 3, 4_999], [2, 2, 7, 7]
    seqs = [contigs[f"chr{c}"] for c in chrom]
    refb = np.array([s[p - 1].upper() for s, p in zip(seqs, bp, strict=True)])
    other = np.array([rng.choice([b for b in BASES if b != r]) for r in refb])
    swap = rng.random(n) < 0.5
    junk = rng.random(n) < 0.1  # neither allele is the reference base (or the base is N)
    a1 = np.where(swap, other, refb)
    a2 = np.where(swap, refb, other)
    a2 = np.where(junk, np.where(a1 == "A", "C", "A"), a2)
    a1 = np.where(junk, np.where(a2 == "G", "T", "G"), a1)
    variants = pd.DataFrame({"CHR": chrom, "BP": bp, "A1": a1, "A2": a2})
    calls = []
    fetch = ref.fetch
    ref.fetch = lambda *a: calls.append(a) or fetch(*a)
    tokens, report = variant_tokens(ref, variants, flank)
    assert len(calls) < 10  # one fetch per run of nearby variants, not one per variant
    n_matched = 0
    for i in range(n):
        window = _naive_window(seqs[i], bp[i] - 1, flank)
        assert tokens[i, 0].tolist() == _tok(window)
        centre = window[flank]
        alt = a2[i] if a1[i] == centre else a1[i] if a2[i] == centre else None
        n_matched += alt is not None
        expected = window if alt is None else window[:flank] + alt + window[flank + 1 :]
        assert tokens[i, 1].tolist() == _tok(expected)
    assert report.n_matched == n_matched and report.n_unmatched == n - n_matched


def test_variant_tokens_bad_input(tmp_path):
    ref = open_reference(_write_fasta(tmp_path / "g.fa", {"1": "ACGT"}))
    ok = pd.DataFrame({"CHR": [1], "BP": [2], "A1": ["C"], "A2": ["A"]})
    with pytest.raises(InputError, match="no A2 column"):
        variant_tokens(ref, ok.drop(columns="A2"), 1, file="v.tsv")
    with pytest.raises(InputError, match=r"v.tsv:3, column 'BP': 1 variants without a valid"):
        variant_tokens(ref, pd.concat([ok, ok.assign(BP=0)]), 1, file="v.tsv")
    with pytest.raises(InputError, match="flank_bp must be an integer >= 0"):
        variant_tokens(ref, ok, -1)


# --------------------------------------------------------------------------------------------
# Packing
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [1, 21, 22, 23, 201])
def test_pack_roundtrip(length):
    rng = np.random.default_rng(length)
    tokens = rng.integers(0, 5, (50, 2, length)).astype(np.int8)
    tokens[0] = 4  # the largest digits
    packed = pack_tokens(tokens)
    assert packed.dtype == np.float64 and packed.shape == (50, -(-2 * length // 22))
    assert np.isfinite(packed).all() and (packed >= 0).all() and (packed == np.round(packed)).all()
    assert packed.max() < 2.0**53
    back = unpack_tokens(packed, length)
    assert back.dtype == np.int64 and (back == tokens).all()
    back_t = unpack_tokens(torch.from_numpy(packed), length)
    assert back_t.dtype == torch.int64 and (back_t.numpy() == back).all()
    with pytest.raises(ValueError, match="must have shape"):
        unpack_tokens(packed, length + 22)
    with pytest.raises(ValueError, match="must lie in 0..4"):
        pack_tokens(tokens + 1)


# --------------------------------------------------------------------------------------------
# The encoder
# --------------------------------------------------------------------------------------------


def _tokens(rng, n: int, length: int) -> torch.Tensor:
    return torch.from_numpy(rng.integers(0, 5, (n, length)))  # N included


def test_rc_tokens():
    x = np.array([_tok("AACGTN")])
    assert rc_tokens(x).tolist() == [_tok("NACGTT")]
    assert (rc_tokens(rc_tokens(x)) == x).all()
    assert rc_tokens(torch.from_numpy(x)).tolist() == rc_tokens(x).tolist()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("kernel", [1, 5, 9])
def test_rc_invariance_exact(seed, layers, kernel):
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    enc = RCEncoder(channels=6, kernel=kernel, layers=layers, out_dim=5, generator=gen)
    for length in (1, 30, 41, 120):
        x = _tokens(rng, 64, length)
        out = enc(x)
        assert out.dtype == F64 and out.shape == (64, 5)
        # float rounding only: sums of the same terms in another order
        assert (enc(rc_tokens(x)) - out).abs().max() < 1e-12


@pytest.mark.parametrize("layers", [1, 3])
def test_every_layer_is_rc_equivariant(layers):
    rng = np.random.default_rng(5)
    enc = RCEncoder(channels=4, kernel=7, layers=layers, generator=torch.Generator().manual_seed(5))
    x = _tokens(rng, 16, 50)
    width = 4 * enc.radius + 2  # the window of an even length
    for t, (h, h_rc) in enumerate(zip(enc.hidden(x), enc.hidden(rc_tokens(x)), strict=True)):
        assert h.shape == (16, 8, width - (t + 1) * 6)
        # R = reverse positions and swap the strand halves (mirrored): flip both axes
        assert (h_rc - h.flip(1, 2)).abs().max() < 1e-12
        assert (h_rc - h).abs().max() > 1e-3  # not R-symmetric by itself


def test_even_kernel_is_rejected():
    with pytest.raises(ValueError, match="kernel must be an odd integer"):
        RCEncoder(kernel=4)


def test_invariance_is_not_vacuous():
    """The encoder tells sequences apart: shuffling, reversing without complementing and
    complementing without reversing all change its output."""
    rng = np.random.default_rng(9)
    enc = RCEncoder(layers=2, kernel=9)
    x = _tokens(rng, 32, 41)
    out = enc(x)
    shuffled = x[:, torch.from_numpy(rng.permutation(41))]
    for other in (shuffled, x.flip(1), rc_tokens(x).flip(1)):
        assert ((enc(other) - out).abs().amax(1) > 1e-4).all()


def test_output_depends_on_the_central_4r_plus_1_bases():
    rng = np.random.default_rng(11)
    enc = RCEncoder(channels=5, kernel=5, layers=2)  # r = 4
    x = _tokens(rng, 20, 61)  # centre 30: bases 22..38 matter
    far = x.clone()
    far[:, :22], far[:, 39:] = _tokens(rng, 20, 22), _tokens(rng, 20, 22)
    assert (enc(far) - enc(x)).abs().max() == 0
    for j in (22, 38):  # the ends of the window still count
        near = x.clone()
        near[:, j] = torch.where(x[:, j] == 0, 1, 0)
        assert (enc(near) - enc(x)).abs().amax(1).min() > 1e-8
    # a short window is padded with N on both sides
    assert (
        enc(x[:, 26:35]) - enc(torch.nn.functional.pad(x[:, 26:35], (4, 4), value=4))
    ).abs().max() == 0


def test_variant_feature_from_tokens_or_packed_and_gradients():
    rng = np.random.default_rng(13)
    tokens = rng.integers(0, 5, (12, 2, 21)).astype(np.int8)
    tokens[:4, 1] = tokens[:4, 0]  # unmatched: ref row = alt row
    enc = RCEncoder(channels=3, kernel=3, layers=2, out_dim=2)
    feat = variant_feature(enc, tokens)
    assert feat.shape == (12, 2) and (feat[:4] == 0).all() and (feat[4:] != 0).all()
    packed = torch.from_numpy(pack_tokens(tokens))
    assert (enc.variant_feature(packed, length=21) - feat).abs().max() == 0
    with pytest.raises(ValueError, match="need length="):
        enc.variant_feature(packed)
    names = [name for name, _ in enc.named_parameters()]

    def f(*params):
        state = dict(zip(names, params, strict=True))
        return torch.func.functional_call(enc, state, (torch.from_numpy(tokens).reshape(24, 21),))

    params = tuple(p.detach().clone().requires_grad_() for p in enc.parameters())
    assert torch.autograd.gradcheck(f, params)  # float64 finite differences


def test_reset_is_deterministic():
    a = RCEncoder(generator=torch.Generator().manual_seed(4))
    b = RCEncoder(generator=torch.Generator().manual_seed(4))
    c = RCEncoder(generator=torch.Generator().manual_seed(5))
    same = [torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True)]
    assert all(same)
    assert not torch.equal(a.weights[0], c.weights[0])


# --------------------------------------------------------------------------------------------
# Planted motif
# --------------------------------------------------------------------------------------------

MOTIF = "TTGACGCA"  # two of each base (the ref/alt bases alone say nothing); not its own RC


def _count_motifs(window: str) -> int:
    rc = MOTIF[::-1].translate(str.maketrans("ACGT", "TGCA"))
    return sum(window[i : i + len(MOTIF)] in (MOTIF, rc) for i in range(len(window)))


def _train(tokens: torch.Tensor, y: torch.Tensor, seed: int, steps: int = 100):
    """Least squares on ``head . variant_feature + bias``, full batch, Adam."""
    gen = torch.Generator().manual_seed(seed)
    # r = 4: the features see +-8 bp, enough for an 8 bp motif overlapping the SNP
    enc = RCEncoder(channels=4, kernel=5, layers=2, out_dim=4, generator=gen)
    head = torch.randn(4, generator=gen, dtype=F64).mul_(0.1).requires_grad_()
    bias = torch.zeros((), dtype=F64, requires_grad=True)
    opt = torch.optim.Adam([*enc.parameters(), head, bias], lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((enc.variant_feature(tokens) @ head + bias - y) ** 2).mean()
        loss.backward()
        opt.step()
    return lambda t: (enc.variant_feature(t) @ head + bias).detach().numpy()


def test_planted_motif_is_recovered_on_both_strands(tmp_path):
    rng = np.random.default_rng(2024)
    n, flank, size = 2000, 20, 200_000
    genome = rng.integers(0, 4, size)
    pos0 = np.arange(n) * 100 + 50 + rng.integers(-10, 11, n)  # windows never overlap
    kind = rng.permutation(n) % 4  # 0, 1: control; 2: motif; 3: its reverse complement
    rc_motif = rc_tokens(np.array(_tok(MOTIF)))
    for i in np.flatnonzero(kind >= 2):
        start = pos0[i] - rng.integers(0, len(MOTIF))  # the SNP is inside the motif
        genome[start : start + len(MOTIF)] = _tok(MOTIF) if kind[i] == 2 else rc_motif
    ref_base = genome[pos0]
    alt_base = (ref_base + rng.integers(1, 4, n)) % 4  # any other base breaks the motif
    swap = rng.random(n) < 0.5
    letters = np.array(list(BASES))
    variants = pd.DataFrame(
        {
            "CHR": "chr5",
            "BP": pos0 + 1,
            "A1": letters[np.where(swap, alt_base, ref_base)],
            "A2": letters[np.where(swap, ref_base, alt_base)],
        }
    )
    fasta = _write_fasta(tmp_path / "g.fa", {"5": "".join(letters[genome])})
    tokens, report = variant_tokens(open_reference(fasta), variants, flank)
    assert report.n_matched == n
    as_text = ["".join("ACGTN"[t] for t in row) for row in tokens.reshape(2 * n, -1)]
    counts = np.array([_count_motifs(s) for s in as_text]).reshape(n, 2)
    truth = (counts[:, 0] > counts[:, 1]).astype(np.float64)  # the alt allele breaks a motif
    assert truth[kind >= 2].all() and truth[kind < 2].mean() < 0.01
    y = torch.from_numpy(truth + 0.3 * rng.standard_normal(n))
    x = torch.from_numpy(pack_tokens(tokens))  # the packed columns, as the prior will see them
    x = unpack_tokens(x, 2 * flank + 1)
    train, test = np.arange(1500), np.arange(1500, n)

    predict = _train(x[train], y[train], seed=0)
    pred = predict(x[test])
    assert np.corrcoef(pred, truth[test])[0, 1] > 0.8
    reverse = test[kind[test] != 2]  # motifs planted on the reverse strand, and controls
    assert np.corrcoef(predict(x[reverse]), truth[reverse])[0, 1] > 0.8
    # A sequence-blind model (a constant, or anything of the ref/alt bases alone, which carry
    # no signal with this motif) scores ~0 +- 0.05; so must the same model trained on shuffled
    # labels, or the score above came from something other than the sequence.
    shuffled = _train(x[train], y[train][torch.from_numpy(rng.permutation(1500))], seed=0)
    assert abs(np.corrcoef(shuffled(x[test]), truth[test])[0, 1]) < 0.3
