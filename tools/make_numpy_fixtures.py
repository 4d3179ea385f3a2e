#!/usr/bin/env python3
"""Small files written by NumPy itself, to test that rlpc's `.npy`/`.npz` reader agrees with it.

What it produces, in ``runtime/tests/fixtures/`` (a few KB in all; ``runtime/tests/io_npy.rs``
holds the expected values):

- ``numpy_interop.npz`` (``np.savez``, which marks entries zip64): ``f32`` [2,3] little-endian,
  ``f64_be`` [4] big-endian, ``i32_fortran`` [2,3] in Fortran order, ``mask`` bool [3],
  ``scalar`` f64 0-d, ``empty`` f32 [0,3];
- ``numpy_f32.npy`` (``np.save``) and ``numpy_v2.npy`` (format version 2.0 header);
- ``numpy_i64.npy`` (NumPy's default integer, read as i32) and ``numpy_i64_wide.npy`` (a value
  beyond i32, refused);
- files rlpc must refuse cleanly: ``numpy_u16.npy``, ``numpy_c64.npy`` (complex64),
  ``numpy_structured.npy`` (a record dtype), ``numpy_u16.npz`` (array ``counts`` is u16) and
  ``numpy_compressed.npz`` (``np.savez_compressed``).

How to run it, from the repository root (numpy 2.4.6 was used for the committed files)::

    python3 -m venv /tmp/gymvenv && /tmp/gymvenv/bin/pip install numpy
    /tmp/gymvenv/bin/python tools/make_numpy_fixtures.py
"""

import pathlib

import numpy as np

OUT = pathlib.Path(__file__).resolve().parent.parent / "runtime" / "tests" / "fixtures"


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez(
        OUT / "numpy_interop.npz",
        f32=(np.arange(6, dtype="<f4") * 0.5).reshape(2, 3),
        f64_be=np.arange(4, dtype=">f8") - 1.5,
        i32_fortran=np.asfortranarray(np.arange(6, dtype="<i4").reshape(2, 3)),
        mask=np.array([True, False, True]),
        scalar=np.array(3.25, dtype="<f8"),
        empty=np.zeros((0, 3), dtype="<f4"),
    )
    np.save(OUT / "numpy_f32.npy", np.arange(6, dtype="<f4").reshape(3, 2))
    with open(OUT / "numpy_v2.npy", "wb") as f:
        np.lib.format.write_array(f, np.array([1, -2, 3], dtype="<i4"), version=(2, 0))
    np.save(OUT / "numpy_i64.npy", np.array([0, -5, 7], dtype="<i8"))
    np.save(OUT / "numpy_i64_wide.npy", np.array([1, 2**40], dtype="<i8"))
    np.save(OUT / "numpy_u16.npy", np.arange(3, dtype="<u2"))
    np.save(OUT / "numpy_c64.npy", np.arange(3, dtype="<c8"))
    np.save(OUT / "numpy_structured.npy", np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")]))
    np.savez(OUT / "numpy_u16.npz", ok=np.ones(2, dtype="<f4"), counts=np.arange(3, dtype="<u2"))
    np.savez_compressed(OUT / "numpy_compressed.npz", x=np.arange(100, dtype="<f4"))
    for path in sorted(OUT.glob("numpy_*")):
        print(path.name, path.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
