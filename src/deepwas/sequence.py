"""The DNA around each variant, and an encoder of it that cannot tell the two strands apart.

This module owns reading a local reference genome (:func:`open_reference`: FASTA, plain or
bgzipped, through pyfaidx; ``.2bit`` through the optional py2bit), the token windows of each
variant (:func:`variant_tokens`: the reference sequence centred on a SNP, and the same with the
other allele at the centre), their lossless packing into float64 columns (:func:`pack_tokens`,
:func:`unpack_tokens`), and :class:`RCEncoder`, a convolutional encoder whose output is exactly
invariant to reverse-complementing its input. A variant's learned feature,
:func:`variant_feature` = encoder(alt window) - encoder(ref window), therefore does not depend
on the strand the reference genome happens to be written on.

Tokens: A=0, C=1, G=2, T=3, anything else (N, IUPAC codes, beyond a contig's ends) = 4. The
complement of a base ``t < 4`` is ``3 - t``.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import skip_init

from deepwas.errors import InputError
from deepwas.io.variants import chrom_code

__all__ = ["N_TOKEN", "PACK_DIGITS", "Reference", "TokenReport", "RCEncoder", "open_reference"]
__all__ += ["variant_tokens", "pack_tokens", "unpack_tokens", "rc_tokens", "variant_feature"]

#: The token of anything that is not A, C, G or T.
N_TOKEN = 4
#: Base-5 digits per float64 of :func:`pack_tokens`: 5**22 - 1 < 2**53, an exact integer.
PACK_DIGITS = 22
_DTYPE = torch.float64
_MERGE_GAP_BP = 65_536  # variants whose windows are closer than this share one fetch
_POW5 = 5 ** np.arange(PACK_DIGITS, dtype=np.int64)
_LOOKUP = np.full(256, N_TOKEN, dtype=np.int8)  # byte -> token, either case
for _t, _b in enumerate("ACGT"):
    _LOOKUP[ord(_b)] = _LOOKUP[ord(_b.lower())] = _t


# --- The reference genome ----------------------------------------------------------------------


class Reference:
    """A reference genome opened by :func:`open_reference`: ``path``, and ``contigs``, a dict
    of contig name -> length (bp) in file order."""

    def __init__(self, path, contigs: dict[str, int], read) -> None:
        self.path = str(path)
        self.contigs = contigs
        self._read = read  # (contig, start0, end0) within the contig -> str
        self._by_code: dict[int, str] = {}
        for name in contigs:
            code = chrom_code(name)
            if code:
                self._by_code.setdefault(code, name)

    def contig(self, chrom: object) -> str:
        """The contig of a chromosome label: the label itself if the reference has it, else the
        contig with the same PLINK code (``22``, ``'chr22'``, ``22.0`` all find ``chr22`` or
        ``22``; ``23``, ``'X'`` find ``chrX`` or ``X``). InputError naming the chromosome and
        the first contigs if none."""
        text = str(chrom).strip()
        if text in self.contigs:
            return text
        code = chrom_code(text)
        if code in self._by_code:
            return self._by_code[code]
        names = list(self.contigs)
        shown = ", ".join(names[:5]) + (f", ... ({len(names)} in all)" if len(names) > 5 else "")
        raise InputError(
            f"chromosome {chrom!r} is not in the reference genome (its contigs: {shown})",
            file=self.path,
            column="CHR",
            fix="use a reference of the same genome build that has this chromosome, or drop "
            "its variants",
        )

    def fetch(self, chrom: object, start0: int, end0: int) -> str:
        """Upper-case bases of the 0-based half-open interval ``[start0, end0)`` of ``chrom``,
        with ``N`` for the positions beyond the contig's ends; ``end0 - start0`` characters."""
        name = self.contig(chrom)
        start0, end0 = int(start0), int(end0)
        if end0 < start0:
            raise ValueError(f"fetch: end0 {end0} < start0 {start0}")
        lo, hi = max(start0, 0), min(end0, self.contigs[name])
        inner = self._read(name, lo, hi).upper() if lo < hi else ""
        return "N" * (min(lo, end0) - start0) + inner + "N" * (end0 - max(hi, start0))


def open_reference(path: str | os.PathLike[str]) -> Reference:
    """Open a reference genome: FASTA (plain, or bgzipped with BioPython installed; indexed
    next to it as ``.fai`` / ``.gzi`` if not yet) or ``.2bit`` (with py2bit installed).

    InputError if the file is missing or unreadable, not valid FASTA, gzip- rather than
    bgzip-compressed, or needs a package that is missing. In a folder that cannot be written, a
    FASTA without a current index is indexed into a temporary folder (a full read of the file
    at every open, with a warning); ``samtools faidx`` once avoids that.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(
            "reference genome not found",
            file=p,
            fix="give a FASTA (.fa, or .fa.gz compressed with bgzip) or a .2bit file",
        )
    return _open_2bit(p) if p.name.lower().endswith(".2bit") else _open_fasta(p)


_SAME_LENGTH = "every sequence line of a contig but the last must have the same length"
_SAMTOOLS = "index it with samtools faidx, or copy it to a writable folder"


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK)


def _index_current(p: Path) -> bool:
    gz = p.name.lower().endswith((".gz", ".bgz"))
    needed = [Path(f"{p}.fai")] + ([Path(f"{p}.gzi")] if gz else [])
    mtime = p.stat().st_mtime
    return all(f.is_file() and f.stat().st_mtime >= mtime for f in needed)


def _open_fasta(p: Path) -> Reference:
    import pyfaidx

    errors = (  # pyfaidx's failures: the first kind that matches -> message, fix
        (ImportError, "reading a compressed FASTA needs BioPython", "pip install biopython"),
        (pyfaidx.UnsupportedCompressionFormat, "gzip-compressed", "use bgzip, not gzip"),
        ((pyfaidx.FastaIndexingError, ValueError), "not a valid FASTA file", _SAME_LENGTH),
        (OSError, "cannot read or index the FASTA", _SAMTOOLS),
    )
    options = {"as_raw": True, "sequence_always_upper": True}
    try:
        with tempfile.TemporaryDirectory(prefix="deepwas-fai-") as tmp:
            if not _writable(p.parent) and not _index_current(p):
                warnings.warn(
                    f"{p}: no current index and a read-only folder, so it is indexed into a "
                    f"temporary folder at every open (index it once with 'samtools faidx {p}', "
                    "or copy it to a writable folder)",
                    stacklevel=3,
                )
                options["indexname"] = os.path.join(tmp, "ref.fai")
                options["gzi_indexname"] = os.path.join(tmp, "ref.gzi")
            fasta = pyfaidx.Fasta(str(p), **options)  # reads the index now
    except (ImportError, OSError, ValueError, pyfaidx.FastaIndexingError) as e:
        message, fix = next((m, f) for kind, m, f in errors if isinstance(e, kind))
        raise InputError(f"{message} ({' '.join(str(e).split())})", file=p, fix=fix) from None
    contigs = {str(name): len(fasta[name]) for name in fasta.keys()}
    return Reference(p, contigs, lambda name, s, e: str(fasta[name][s:e]))


def _open_2bit(p: Path) -> Reference:
    try:
        import py2bit
    except ImportError:
        raise InputError(
            "reading a .2bit reference needs the package py2bit",
            file=p,
            fix="pip install py2bit, or convert it to FASTA with twoBitToFa",
        ) from None
    try:
        tb = py2bit.open(str(p))
        contigs = {str(k): int(v) for k, v in tb.chroms().items()}
    except (OSError, RuntimeError, ValueError) as e:
        raise InputError(
            f"cannot read the .2bit file ({e})", file=p, fix="check the file, or use a FASTA"
        ) from None
    return Reference(p, contigs, lambda name, s, e: tb.sequence(name, s, e))


# --- Variant windows ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenReport:
    """How the variants of :func:`variant_tokens` met the reference genome.

    ``n = n_matched + n_unmatched + n_not_snp``; ``matched: (n,) bool`` marks the variants whose
    alt row differs from their ref row. Many unmatched SNPs suggest another genome build.
    """

    n: int
    n_matched: int
    n_unmatched: int  # single-base SNPs neither of whose alleles is the reference base
    n_not_snp: int  # indels, multi-base or non-ACGT alleles, A1 == A2
    first_unmatched: str | None
    matched: np.ndarray = field(repr=False)


def _allele_tokens(values: pd.Series) -> np.ndarray:
    """(n,) int16: the token of a single-base A/C/G/T allele (either case), else -1."""
    s = values.astype(str).str.strip().str.upper()
    return s.map({b: t for t, b in enumerate("ACGT")}).fillna(-1).to_numpy(np.int16)


def variant_tokens(
    reference: Reference, variants: pd.DataFrame, flank_bp: int, *, file=None
) -> tuple[np.ndarray, TokenReport]:
    """The reference sequence around each variant, and the same with its other allele.

    Parameters
    ----------
    reference:
        From :func:`open_reference`.
    variants: (n, >=4)
        Columns ``CHR``, ``BP`` (1-based), ``A1`` and ``A2``.
    flank_bp:
        Bases each side of the variant (>= 0).
    file:
        The variant file, named in error messages.

    Returns
    -------
    tokens: (n, 2, 2 flank_bp + 1) int8
        Row 0 the reference bases ``BP - flank_bp .. BP + flank_bp`` (``N`` beyond a contig's
        ends), row 1 the same with the alt allele at the centre. The ref allele is the one equal
        to the reference base at ``BP`` (A1 or A2, case-insensitive). For variants that are not
        single-base SNPs, or neither of whose alleles is the reference base, row 1 = row 0.
    report: TokenReport

    Notes
    -----
    InputError if a column or a valid ``BP`` is missing, or a chromosome is not in the
    reference. One fetch per run of variants of a chromosome whose windows lie within 64 kb of
    each other, then numpy indexing: the cost is that of reading the runs once.
    """
    if isinstance(flank_bp, bool) or not isinstance(flank_bp, int | np.integer) or flank_bp < 0:
        raise InputError(f"flank_bp must be an integer >= 0, got {flank_bp!r}", column="flank_bp")
    for col in ("CHR", "BP", "A1", "A2"):
        if col not in variants:
            raise InputError(
                f"the variant table has no {col} column, needed to read the sequence around "
                "each variant",
                file=file,
                column=col,
                fix="give a table with CHR, BP, A1 and A2",
            )
    n, flank, width = len(variants), int(flank_bp), 2 * int(flank_bp) + 1
    bp = pd.to_numeric(variants["BP"], errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(bp) | (bp < 1) | (bp != np.round(bp))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{int(bad.sum())} variants without a valid 1-based BP (first: "
            f"{variants['BP'].iloc[i]!r})",
            file=file,
            row=i + 2 if file else i + 1,
            column="BP",
            fix="give every variant a positive integer position",
        )
    pos0 = bp.astype(np.int64) - 1
    tokens = np.empty((n, 2, width), dtype=np.int8)
    labels, uniques = pd.factorize(variants["CHR"].astype(str))
    by_label = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[by_label], np.arange(len(uniques) + 1))
    offsets = np.arange(width)
    for k, label in enumerate(uniques):
        name = reference.contig(label)
        idx = by_label[starts[k] : starts[k + 1]]
        idx = idx[np.argsort(pos0[idx], kind="stable")]
        p = pos0[idx]
        cuts = np.flatnonzero(np.diff(p) > width + _MERGE_GAP_BP) + 1
        for run in np.split(np.arange(len(idx)), cuts):
            lo = int(p[run[0]]) - flank
            seq = reference.fetch(name, lo, int(p[run[-1]]) + flank + 1)
            codes = _LOOKUP[np.frombuffer(seq.encode("latin-1", "replace"), dtype=np.uint8)]
            tokens[idx[run], 0] = codes[(p[run] - flank - lo)[:, None] + offsets]
    a1, a2 = _allele_tokens(variants["A1"]), _allele_tokens(variants["A2"])
    centre = tokens[:, 0, flank].astype(np.int16)
    snp = (a1 >= 0) & (a2 >= 0) & (a1 != a2)
    ref_is_a1 = snp & (a1 == centre)
    matched = ref_is_a1 | (snp & (a2 == centre))
    tokens[:, 1] = tokens[:, 0]
    tokens[matched, 1, flank] = np.where(ref_is_a1, a2, a1)[matched]
    unmatched = snp & ~matched
    first = None
    if unmatched.any():
        i = int(np.flatnonzero(unmatched)[0])
        v = variants.iloc[i]
        first = (
            f"row {i + 2 if file else i + 1}: {v['CHR']}:{v['BP']} {v['A1']}/{v['A2']}, "
            f"reference base {'ACGTN'[centre[i]]}"
        )
    report = TokenReport(
        n=n,
        n_matched=int(matched.sum()),
        n_unmatched=int(unmatched.sum()),
        n_not_snp=int((~snp).sum()),
        first_unmatched=first,
        matched=matched,
    )
    return tokens, report


# --- Packing into float64 columns --------------------------------------------------------------


def pack_tokens(tokens) -> np.ndarray:
    """Pack ``tokens: (n, 2, L)`` (0-4) losslessly into ``(n, ceil(2 L / 22))`` float64.

    Row 0 then row 1 of each variant, token ``j`` of each group of 22 as base-5 digit ``j``: the
    values are non-negative integers below ``5**22 < 2**53``, so exact in float64.
    """
    t = np.asarray(tokens)
    if t.ndim != 3 or t.shape[1] != 2:
        raise ValueError(f"tokens must have shape (n, 2, L), got {t.shape}")
    if t.size and (t.min() < 0 or t.max() > N_TOKEN):
        raise ValueError(f"tokens must lie in 0..{N_TOKEN}, got {t.min()}..{t.max()}")
    n, total = t.shape[0], 2 * t.shape[2]
    m = -(-total // PACK_DIGITS)
    flat = np.zeros((n, m * PACK_DIGITS), dtype=np.int64)  # padding digits 0, dropped on unpack
    flat[:, :total] = t.reshape(n, total)
    return (flat.reshape(n, m, PACK_DIGITS) @ _POW5).astype(np.float64)


def unpack_tokens(packed, length: int):
    """Inverse of :func:`pack_tokens`: ``packed: (n, ceil(2 length / 22))`` float64 -> ``(n,
    2, length)`` int64, a torch tensor on ``packed``'s device for a tensor, else numpy."""
    m = -(-2 * length // PACK_DIGITS)
    if packed.ndim != 2 or packed.shape[1] != m:
        raise ValueError(
            f"packed tokens of length {length} must have shape (n, {m}), got {tuple(packed.shape)}"
        )
    n = packed.shape[0]
    if isinstance(packed, torch.Tensor):
        v = packed.detach().to(torch.int64)  # exact: integers below 2**53
        pow5 = torch.as_tensor(_POW5, device=v.device)
        digits = torch.div(v[..., None], pow5, rounding_mode="floor") % 5
    else:
        digits = (np.asarray(packed, dtype=np.float64).astype(np.int64)[..., None] // _POW5) % 5
    return digits.reshape(n, m * PACK_DIGITS)[:, : 2 * length].reshape(n, 2, length)


def rc_tokens(tokens):
    """Reverse complement along the last axis (numpy or torch): A<->T, C<->G, others -> N."""
    if isinstance(tokens, torch.Tensor):
        base = (tokens >= 0) & (tokens < N_TOKEN)
        return torch.where(base, 3 - tokens, N_TOKEN).flip(-1)
    t = np.asarray(tokens)
    base = (t >= 0) & (t < N_TOKEN)
    return np.where(base, 3 - t, N_TOKEN).astype(t.dtype)[..., ::-1].copy()


# --- The encoder -------------------------------------------------------------------------------


class RCEncoder(nn.Module):
    """A convolutional encoder of a DNA window, exactly invariant to reverse complement.

    Parameters
    ----------
    channels, kernel, layers, out_dim:
        ``C`` filters per layer (each layer's output has ``2 C`` channels, C per strand), of
        odd width ``kernel`` (bp), in ``layers`` layers (residual from the 2nd), then
        ``out_dim`` outputs.
    generator:
        Draws the initial parameters (:meth:`reset`); ``None``: a generator seeded with 0.

    Notes
    -----
    The encoder reads the central ``4 r + 1`` bases, ``r = layers (kernel - 1) / 2``
    (:meth:`window`), and convolves without padding, so layer ``t`` computes exactly the
    positions the centre ``+-r`` outputs depend on. Let ``R`` act on ``h: (channels, L)`` by
    reversing both axes, ``R(h)[c, l] = h[c', L-1-l]``, ``c' = channels-1-c``: on the one-hot
    input (A, C, G, T) it is the reverse complement, on a hidden layer it reverses positions and
    swaps the forward and RC halves (mirrored). Each layer convolves with the shared weights
    ``W: (C, C_in, k)`` stacked as ``[W, flip_{out,in,k} W]`` (Caduceus-style parameter
    sharing) and biases ``[b, flip b]``: a kernel symmetric under flipping all three axes.
    Substituting ``c_in -> c_in'``, ``j -> k-1-j`` in the convolution sum gives ``conv(R h) =
    R conv(h)``; a pointwise nonlinearity, a centred crop and a residual sum commute with ``R``,
    so every layer is exactly equivariant. The mean over positions then maps ``R`` to the
    channel mirror ``c -> c'``; adding each channel to its mirror makes the pooled features,
    and the linear map after them, invariant.
    """

    def __init__(
        self,
        channels: int = 8,
        kernel: int = 9,
        layers: int = 2,
        out_dim: int = 4,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("channels", channels), ("layers", layers), ("out_dim", out_dim)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if int(kernel) != kernel or kernel < 1 or kernel % 2 == 0:
            raise ValueError(
                f"kernel must be an odd integer >= 1, got {kernel!r} (an even filter has no "
                "centre, so its outputs could not sit on the variant, nor on both strands)"
            )
        self.channels, self.kernel, self.n_layers = int(channels), int(kernel), int(layers)
        c = self.channels
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(c, 4 if i == 0 else 2 * c, self.kernel, dtype=_DTYPE))
            for i in range(self.n_layers)
        )
        self.biases = nn.ParameterList(
            nn.Parameter(torch.empty(c, dtype=_DTYPE)) for _ in range(self.n_layers)
        )
        self.out = skip_init(nn.Linear, c, int(out_dim), dtype=_DTYPE)
        gen = generator if generator is not None else torch.Generator().manual_seed(0)

        def normal_(t: torch.Tensor, var: float) -> None:
            t.copy_(torch.randn(t.shape, generator=gen, dtype=_DTYPE) * math.sqrt(var))

        self.reset(normal_)

    @property
    def radius(self) -> int:
        """``r = layers (kernel - 1) / 2`` bp: the output pools the centre ``+-r`` positions,
        which see the centre ``+-2 r`` bases."""
        return self.n_layers * (self.kernel - 1) // 2

    @torch.no_grad()
    def reset(self, normal_) -> None:
        """Conv weights ``~ N(0, 2 / fan_in)`` (``fan_in = C_in kernel``), output weights
        ``~ N(0, 1 / C)``, biases 0; ``normal_(tensor, var)`` fills a tensor."""
        for w, b in zip(self.weights, self.biases, strict=True):
            normal_(w, 2.0 / (w.shape[1] * w.shape[2]))
            b.zero_()
        normal_(self.out.weight, 1.0 / self.channels)
        self.out.bias.zero_()

    def window(self, tokens: torch.Tensor) -> torch.Tensor:
        """The central ``4 r + 1`` tokens (``4 r + 2`` for an even length) of ``tokens: (n, L)``,
        cropped or padded with N equally on both sides: all the encoder reads."""
        length = tokens.shape[1]
        extra = length - (4 * self.radius + 1 + (length + 1) % 2)  # even
        if extra >= 0:
            return tokens[:, extra // 2 : length - extra // 2]
        return F.pad(tokens, (-extra // 2, -extra // 2), value=N_TOKEN)

    def hidden(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        """The representation after each layer, ``(n, 2 C, L_t)`` float64 with ``L_t = L_0 -
        t (kernel - 1)`` for the window ``(n, L_0)`` of ``tokens: (n, L)``
        (:meth:`window`; values outside 0-3 are N, an all-zero one-hot)."""
        t = torch.as_tensor(tokens, device=self.out.weight.device).long()
        t = self.window(torch.where((t >= 0) & (t < N_TOKEN), t, N_TOKEN))
        h = F.one_hot(t, N_TOKEN + 1)[..., :N_TOKEN].to(_DTYPE).transpose(1, 2)  # (n, 4, L_0)
        half = self.kernel // 2
        reps = []
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            tied = torch.cat([w, w.flip(0, 1, 2)])  # symmetric under flipping all three axes
            y = F.gelu(F.conv1d(h, tied, torch.cat([b, b.flip(0)])))  # 'valid': L shrinks
            h = y if i == 0 else h[:, :, half : h.shape[-1] - half] + y
            reps.append(h)
        return reps

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """``tokens: (n, L)`` int -> ``(n, out_dim)`` float64, equal for a window and its
        reverse complement (:func:`rc_tokens`)."""
        if tokens.ndim != 2 or tokens.shape[1] < 1:
            raise ValueError(f"tokens must have shape (n, L >= 1), got {tuple(tokens.shape)}")
        pooled = self.hidden(tokens)[-1].mean(-1)  # (n, 2C): the centre +-r positions
        return self.out(pooled[:, : self.channels] + pooled[:, self.channels :].flip(1))

    def variant_feature(self, x, *, length: int | None = None) -> torch.Tensor:
        """``encoder(alt row) - encoder(ref row)``, ``(n, out_dim)`` float64.

        ``x``: tokens ``(n, 2, L)`` (integers, numpy or torch), or packed float64 ``(n, m)``
        from :func:`pack_tokens` with ``length = L``. Variants whose two rows are equal
        (unmatched, not SNPs) get exactly 0.
        """
        if length is not None:
            tokens = unpack_tokens(x, length)
        elif torch.as_tensor(x).is_floating_point():
            raise ValueError("packed tokens need length= (the window length L)")
        else:
            tokens = x
        tokens = torch.as_tensor(tokens, device=self.out.weight.device).long()
        n, two, size = tokens.shape
        if two != 2:
            raise ValueError(f"variant tokens must have shape (n, 2, L), got {tokens.shape}")
        out = self(tokens.reshape(2 * n, size)).reshape(n, 2, -1)
        return out[:, 1] - out[:, 0]


def variant_feature(encoder: RCEncoder, x, *, length: int | None = None) -> torch.Tensor:
    """:meth:`RCEncoder.variant_feature`: ``(n, out_dim)`` = encoder(alt) - encoder(ref)."""
    return encoder.variant_feature(x, length=length)


# --- The DNA branch of a prior (PriorConfig.sequence) -----------------------------------------

#: The encoder of a prior's DNA branch unless its config says otherwise (:class:`RCEncoder`'s
#: defaults).
ENCODER_DEFAULTS = {"channels": 8, "kernel": 9, "layers": 2, "out_dim": 4}


def sequence_spec(spec) -> dict:
    """``PriorConfig.sequence`` checked and completed: ``fasta`` (required) and the encoder's
    ``channels``, ``kernel`` (odd), ``layers``, ``out_dim`` (:data:`ENCODER_DEFAULTS`), and
    ``flank_bp``, the bases read each side of a variant: ``2 r`` with ``r = layers (kernel -
    1) / 2`` (all the encoder sees, :meth:`RCEncoder.window`). InputError naming the key."""
    if not isinstance(spec, dict) or "fasta" not in spec:
        raise InputError(
            "must be an object with the key fasta",
            column="sequence",
            fix='pass {"fasta": PATH} (and optionally the encoder sizes)',
        )
    unknown = sorted(set(spec) - {"fasta", "flank_bp", *ENCODER_DEFAULTS})
    if unknown:
        raise InputError(
            f"unknown key(s) {unknown}",
            column="sequence",
            fix=f"use fasta, {', '.join(ENCODER_DEFAULTS)}",
        )
    out = {"fasta": str(spec["fasta"])}
    for key, default in ENCODER_DEFAULTS.items():
        value = spec.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise InputError(f"must be an integer, got {value!r}", column=f"sequence.{key}")
        if value < 1 or (key == "kernel" and value % 2 == 0):
            raise InputError(
                f"must be {'an odd integer' if key == 'kernel' else 'an integer'} >= 1, got "
                f"{value!r}",
                column=f"sequence.{key}",
            )
        out[key] = int(value)
    out["flank_bp"] = out["layers"] * (out["kernel"] - 1)
    if "flank_bp" in spec and spec["flank_bp"] != out["flank_bp"]:
        raise InputError(
            f"flank_bp {spec['flank_bp']!r} disagrees with the encoder ({out['flank_bp']})",
            column="sequence.flank_bp",
            fix="drop flank_bp: it follows from kernel and layers",
        )
    return out


def build_encoder(spec: dict) -> RCEncoder:
    """The (not yet initialised) encoder of a DNA branch ``spec`` (:func:`sequence_spec`)."""
    sizes = {k: spec[k] for k in ENCODER_DEFAULTS}
    return RCEncoder(**sizes, generator=torch.Generator().manual_seed(0))


def packed_width(flank_bp: int) -> int:
    """Columns of :func:`pack_tokens` for windows of ``flank_bp`` bases each side."""
    return -(-2 * (2 * flank_bp + 1) // PACK_DIGITS)


def dna_columns(fasta, variants: pd.DataFrame, flank_bp: int, *, file=None):
    """The packed bases within ``flank_bp`` of each variant (reference and alternative rows,
    :func:`variant_tokens`, :func:`pack_tokens`), read from the reference ``fasta``, and one
    report line. The columns follow ``CHR`` and ``BP`` in a prior's ``positions``."""
    tokens, rep = variant_tokens(open_reference(fasta), variants, flank_bp, file=file)
    line = (
        f"DNA: {flank_bp} bp each side of {rep.n:,} variants from {fasta}; the reference allele "
        f"found for {rep.n_matched:,}"
    )
    if rep.n_unmatched or rep.n_not_snp:
        line += (
            f" ({rep.n_unmatched:,} SNPs match neither allele, first {rep.first_unmatched}; "
            f"{rep.n_not_snp:,} not SNPs: no DNA signal for them)"
        )
    return pack_tokens(tokens), line


def dna_inputs(prior, x_std: torch.Tensor, positions):
    """A prior's inputs with its DNA branch: ``x_std`` (n, k) followed by the encoder's
    ref-vs-alt difference (n, out_dim), and the (n, 2) ``CHR``, ``BP`` of ``positions`` (n, 2
    + m) for a family that reads them."""
    spec = prior.config.sequence
    pos = torch.as_tensor(positions, dtype=_DTYPE).to(x_std.device)
    m = packed_width(spec["flank_bp"])
    if pos.ndim != 2 or pos.shape != (x_std.shape[0], 2 + m):
        raise InputError(
            f"a prior with a DNA branch needs positions of shape (n, {2 + m}) (CHR, BP and the "
            f"packed bases), got {tuple(pos.shape)}",
            column="positions",
            fix="pass deepwas.prior_positions(prior, variants) (deepwas predict: --fasta)",
        )
    length = 2 * spec["flank_bp"] + 1
    feature = prior.dna.variant_feature(pos[:, 2:], length=length)
    return torch.cat([x_std, feature], dim=1), pos[:, :2]
