"""Spilled projected LD read back with or without the page cache (deepwas.linalg.spill)."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

from deepwas.linalg import spill
from deepwas.linalg.spill import Spill, SpilledArray, read_float64


@pytest.fixture
def values_file(tmp_path):
    # 3 pages and a bit: the file's last page is partial
    x = np.random.default_rng(0).standard_normal(3 * 512 + 77)
    path = tmp_path / "G.f64"
    x.tofile(path)
    return path, x


@pytest.mark.parametrize(
    "offset, count", [(0, 3 * 512 + 77), (0, 5), (511, 2), (700, 900), (1600, 13)]
)
def test_direct_and_buffered_reads_agree(values_file, offset, count):
    path, x = values_file
    buffered = read_float64(path, count, offset=offset)
    direct = read_float64(path, count, offset=offset, direct=True)
    np.testing.assert_array_equal(buffered, x[offset : offset + count])
    np.testing.assert_array_equal(direct, x[offset : offset + count])
    assert direct.dtype == np.float64 and direct.flags.c_contiguous


def test_the_direct_path_bypasses_the_page_cache(values_file):
    """Where O_DIRECT works (ext4, xfs: CI's and users' disks) the unbuffered reader itself gives
    the values; elsewhere (tmpfs) it raises EINVAL, which read_float64 turns into a normal read."""
    path, x = values_file
    if not hasattr(os, "O_DIRECT"):
        pytest.skip("no O_DIRECT on this platform")
    try:
        got = spill._read_direct(path, 900, 700)
    except OSError as exc:
        assert spill._unsupported(exc)
        pytest.skip(f"O_DIRECT not supported by the file system of {path.parent}")
    np.testing.assert_array_equal(got, x[700:1600])


def test_unsupported_direct_io_falls_back(values_file, monkeypatch):
    path, x = values_file
    real_open = os.open

    def no_direct(p, flags, *a):
        if flags & getattr(os, "O_DIRECT", 0):
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(p, flags, *a)

    monkeypatch.setattr(os, "open", no_direct)
    np.testing.assert_array_equal(read_float64(path, 10, offset=3, direct=True), x[3:13])


def test_reading_past_the_end_is_an_error(values_file):
    path, x = values_file
    for direct in (False, True):
        with pytest.raises(OSError, match="expected"):
            read_float64(path, 10, offset=x.size - 5, direct=direct)


def test_when_spilled_files_are_read_directly(monkeypatch):
    monkeypatch.delenv("DEEPWAS_DIRECT_IO", raising=False)
    assert Spill(0, direct=True).direct_reads()
    assert not Spill(0, direct=False).direct_reads()
    with pytest.raises(ValueError):
        Spill(0, direct="sometimes")
    auto = Spill(0)
    auto.spilled_bytes = 6 << 30  # 6 GiB spilled
    monkeypatch.setattr(spill, "_memory_available", lambda: 24 << 30)
    assert not auto.direct_reads()  # the page cache keeps them
    monkeypatch.setattr(spill, "_memory_available", lambda: 8 << 30)
    assert auto.direct_reads()  # it cannot: read them from the disk without it
    monkeypatch.setattr(spill, "_memory_available", lambda: None)
    assert not auto.direct_reads()
    monkeypatch.setenv("DEEPWAS_DIRECT_IO", "1")
    assert auto.direct_reads()
    monkeypatch.setenv("DEEPWAS_DIRECT_IO", "0")
    monkeypatch.setattr(spill, "_memory_available", lambda: 8 << 30)
    assert not auto.direct_reads()


@pytest.mark.parametrize("direct", [False, True])
def test_spilled_arrays_read_back_bit_for_bit(direct):
    G = np.random.default_rng(1).standard_normal((301, 37))
    keeper = Spill(0, direct=direct)
    S = keeper.keep(G, "w0")
    assert isinstance(S, SpilledArray) and keeper.direct_reads() == direct
    np.testing.assert_array_equal(np.asarray(S), G)
    np.testing.assert_array_equal(np.asarray(S[:, :5]), G[:, :5])
    np.testing.assert_array_equal(S.T, G.T)
