//! Atomic writes and `.npy` / `.npz` files: round trips of every dtype, agreement with
//! files NumPy wrote, and a clean error naming the file for every kind of bad file.

mod common;

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use common::{TempDir, assert_names_file};
use ndarray::{ArrayD, IxDyn};
use rlp_runtime::io::{
    IoError, load_npy, load_npz, save_npy, save_npz, write_atomic, write_atomic_with,
};
use rlp_runtime::{DType, Tensor};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Bit patterns of the elements, so that NaN and -0.0 compare exactly.
fn bits(t: &Tensor) -> Vec<u64> {
    match t {
        Tensor::F32(a) => a.iter().map(|v| u64::from(v.to_bits())).collect(),
        Tensor::F64(a) => a.iter().map(|v| v.to_bits()).collect(),
        Tensor::I32(a) => a.iter().map(|&v| v as u32 as u64).collect(),
        Tensor::Bool(a) => a.iter().map(|&v| v as u64).collect(),
    }
}

fn assert_same(a: &Tensor, b: &Tensor) {
    assert_eq!(a.dtype(), b.dtype());
    assert_eq!(a.shape(), b.shape());
    assert_eq!(bits(a), bits(b));
}

/// One tensor of every dtype, with awkward values and shapes (0-d, empty, 3-d).
fn sample_tensors() -> Vec<(String, Tensor)> {
    let f32s = [
        0.0,
        -0.0,
        1.5,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MIN_POSITIVE / 2.0,
        f32::MAX,
    ];
    let f64s = [std::f64::consts::PI, -0.0, f64::NAN, 1e-310, f64::MAX, -1.0];
    vec![
        (
            "f32".into(),
            Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[2, 4]), f32s.to_vec()).unwrap()),
        ),
        (
            "f64".into(),
            Tensor::F64(ArrayD::from_shape_vec(IxDyn(&[6]), f64s.to_vec()).unwrap()),
        ),
        (
            "i32".into(),
            Tensor::I32(
                ArrayD::from_shape_vec(IxDyn(&[1, 2, 2]), vec![i32::MIN, -1, 0, i32::MAX]).unwrap(),
            ),
        ),
        (
            "bool".into(),
            Tensor::Bool(
                ArrayD::from_shape_vec(IxDyn(&[5]), vec![true, false, false, true, true]).unwrap(),
            ),
        ),
        ("scalar".into(), Tensor::from_f64(DType::F64, &[], &[2.5])),
        ("empty".into(), Tensor::zeros(DType::F32, &[0, 3])),
        ("empty_bool".into(), Tensor::zeros(DType::Bool, &[2, 0])),
    ]
}

// ------------------------------------------------------------------------------------
// Round trips
// ------------------------------------------------------------------------------------

#[test]
fn npz_round_trips_every_dtype_and_shape() {
    let dir = TempDir::new("npz-rt");
    let path = dir.join("state.npz");
    let tensors = sample_tensors();
    save_npz(&path, &tensors).unwrap();
    let loaded = load_npz(&path).unwrap();
    assert_eq!(loaded.len(), tensors.len());
    for ((name, t), (lname, l)) in tensors.iter().zip(&loaded) {
        assert_eq!(name, lname);
        assert_same(t, l);
    }
    assert_eq!(
        dir.list(),
        ["state.npz"],
        "no temporary file is left behind"
    );
}

#[test]
fn npy_round_trips_every_dtype_and_shape() {
    let dir = TempDir::new("npy-rt");
    for (name, t) in sample_tensors() {
        let path = dir.join(&format!("{name}.npy"));
        save_npy(&path, &t).unwrap();
        assert_same(&t, &load_npy(&path).unwrap());
    }
}

#[test]
fn non_standard_layout_is_saved_as_its_logical_values() {
    let dir = TempDir::new("layout");
    let a = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    let transposed = Tensor::F32(a.t().to_owned().into_dyn());
    let view = Tensor::F32(a.clone().reversed_axes());
    let path = dir.join("t.npz");
    save_npz(&path, &[("t".into(), view)]).unwrap();
    let loaded = &load_npz(&path).unwrap()[0].1;
    assert_eq!(loaded, &transposed);
    assert_eq!(loaded.to_f64_vec(), [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
}

#[test]
fn empty_archive_round_trips() {
    let dir = TempDir::new("empty-npz");
    let path = dir.join("none.npz");
    save_npz(&path, &[]).unwrap();
    assert!(load_npz(&path).unwrap().is_empty());
}

#[test]
fn same_tensors_give_identical_bytes() {
    let dir = TempDir::new("determinism");
    let (a, b) = (dir.join("a.npz"), dir.join("b.npz"));
    save_npz(&a, &sample_tensors()).unwrap();
    save_npz(&b, &sample_tensors()).unwrap();
    assert_eq!(fs::read(a).unwrap(), fs::read(b).unwrap());
}

#[test]
fn npz_rejects_duplicate_and_empty_names_without_writing() {
    let dir = TempDir::new("names");
    let path = dir.join("dup.npz");
    let t = Tensor::zeros(DType::F32, &[1]);
    let err = save_npz(&path, &[("w".into(), t.clone()), ("w".into(), t.clone())]).unwrap_err();
    assert!(matches!(err, IoError::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("`w`"), "{err}");
    assert_names_file(&err, &path);
    let err = save_npz(&path, &[(String::new(), t)]).unwrap_err();
    assert!(matches!(err, IoError::Invalid { .. }), "{err}");
    assert!(dir.list().is_empty());
}

// ------------------------------------------------------------------------------------
// NumPy interop
// ------------------------------------------------------------------------------------

#[test]
fn reads_what_numpy_savez_wrote() {
    let loaded = load_npz(&fixture("numpy_interop.npz")).unwrap();
    let get = |name: &str| {
        &loaded
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .1
    };
    let names: Vec<&str> = loaded.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["f32", "f64_be", "i32_fortran", "mask", "scalar", "empty"]
    );

    assert_eq!(get("f32").dtype(), DType::F32);
    assert_eq!(get("f32").shape(), [2, 3]);
    assert_eq!(get("f32").to_f64_vec(), [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]);
    assert_eq!(get("f64_be").dtype(), DType::F64);
    assert_eq!(get("f64_be").to_f64_vec(), [-1.5, -0.5, 0.5, 1.5]);
    // Fortran order on disk, standard layout in memory, same logical values.
    let Tensor::I32(fortran) = get("i32_fortran") else {
        panic!("i32")
    };
    assert!(fortran.is_standard_layout());
    assert_eq!(
        get("i32_fortran").to_f64_vec(),
        [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    );
    assert_eq!(
        get("mask"),
        &Tensor::Bool(ndarray::arr1(&[true, false, true]).into_dyn())
    );
    assert_eq!(get("scalar").shape(), [] as [usize; 0]);
    assert_eq!(get("scalar").scalar_f64(), Some(3.25));
    assert_eq!(get("empty").shape(), [0, 3]);
}

#[test]
fn reads_what_numpy_save_wrote_including_format_version_2() {
    let t = load_npy(&fixture("numpy_f32.npy")).unwrap();
    assert_eq!((t.dtype(), t.shape()), (DType::F32, &[3, 2][..]));
    assert_eq!(t.to_f64_vec(), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let t = load_npy(&fixture("numpy_v2.npy")).unwrap();
    assert_eq!(t, Tensor::I32(ndarray::arr1(&[1, -2, 3]).into_dyn()));
}

#[test]
fn unsupported_numpy_dtypes_are_named() {
    for (file, descr) in [("numpy_u16.npy", "<u2"), ("numpy_c64.npy", "<c8")] {
        let path = fixture(file);
        let err = load_npy(&path).unwrap_err();
        let IoError::UnsupportedDtype {
            array: None,
            descr: got,
            ..
        } = &err
        else {
            panic!("{file}: expected UnsupportedDtype, got {err}")
        };
        assert_eq!(got, descr);
        assert!(err.to_string().contains(descr), "{err}");
        assert_names_file(&err, &path);
    }
    let path = fixture("numpy_structured.npy");
    let err = load_npy(&path).unwrap_err();
    assert!(matches!(err, IoError::UnsupportedDtype { .. }), "{err}");
    assert!(err.to_string().contains("structured"), "{err}");

    let path = fixture("numpy_u16.npz");
    let err = load_npz(&path).unwrap_err();
    assert!(
        matches!(&err, IoError::UnsupportedDtype { array: Some(a), .. } if a == "counts"),
        "{err}"
    );
    assert!(err.to_string().contains("`counts`"), "{err}");
    assert_names_file(&err, &path);
}

#[test]
fn compressed_npz_is_refused_with_a_reason() {
    let path = fixture("numpy_compressed.npz");
    let err = load_npz(&path).unwrap_err();
    assert!(matches!(err, IoError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("savez_compressed"), "{err}");
    assert_names_file(&err, &path);
}

// ------------------------------------------------------------------------------------
// Bad files: empty, truncated, flipped bytes, wrong kind, hostile headers
// ------------------------------------------------------------------------------------

#[test]
fn empty_files_are_clean_errors() {
    let dir = TempDir::new("empty");
    for name in ["e.npy", "e.npz"] {
        let path = dir.join(name);
        fs::write(&path, b"").unwrap();
        let err = if name.ends_with("npy") {
            load_npy(&path).unwrap_err()
        } else {
            load_npz(&path).err().unwrap()
        };
        assert!(matches!(err, IoError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("empty"), "{err}");
        assert_names_file(&err, &path);
    }
}

#[test]
fn every_truncation_of_an_npz_is_a_clean_error() {
    let dir = TempDir::new("trunc-npz");
    let good = dir.join("good.npz");
    save_npz(&good, &sample_tensors()).unwrap();
    let bytes = fs::read(&good).unwrap();
    let path = dir.join("cut.npz");
    for len in 0..bytes.len() {
        fs::write(&path, &bytes[..len]).unwrap();
        match load_npz(&path) {
            Ok(_) => panic!(
                "a {len}-byte prefix of a {}-byte archive loaded",
                bytes.len()
            ),
            Err(err) => assert_names_file(&err, &path),
        }
    }
}

#[test]
fn every_truncation_of_an_npy_is_a_clean_error() {
    let dir = TempDir::new("trunc-npy");
    let path = dir.join("cut.npy");
    for (name, t) in sample_tensors().into_iter().filter(|(_, t)| !t.is_empty()) {
        let good = dir.join(&format!("{name}.npy"));
        save_npy(&good, &t).unwrap();
        let bytes = fs::read(&good).unwrap();
        for len in 0..bytes.len() {
            fs::write(&path, &bytes[..len]).unwrap();
            let err = load_npy(&path).expect_err("a prefix must not load");
            assert!(
                matches!(err, IoError::Corrupt { .. }),
                "{name}, {len} bytes: {err}"
            );
            assert_names_file(&err, &path);
        }
    }
}

#[test]
fn trailing_garbage_after_npy_data_is_an_error() {
    let dir = TempDir::new("extra");
    let path = dir.join("x.npy");
    save_npy(&path, &Tensor::zeros(DType::I32, &[3])).unwrap();
    let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b"junk").unwrap();
    let err = load_npy(&path).unwrap_err();
    assert!(err.to_string().contains("4 unexpected bytes"), "{err}");
}

/// Offsets of each embedded `.npy` image (from its magic to the end of its data).
fn npy_regions(bytes: &[u8], tensors: &[(String, Tensor)]) -> Vec<std::ops::Range<usize>> {
    let mut regions = Vec::new();
    let mut from = 0;
    for (_, t) in tensors {
        let start = from
            + bytes[from..]
                .windows(6)
                .position(|w| w == b"\x93NUMPY")
                .unwrap();
        let header_len = u16::from_le_bytes([bytes[start + 8], bytes[start + 9]]) as usize;
        let end = start + 10 + header_len + t.len() * t.dtype().size_bytes();
        regions.push(start..end);
        from = end;
    }
    regions
}

#[test]
fn flipped_bytes_in_an_npz_never_panic_and_damaged_arrays_are_caught() {
    let dir = TempDir::new("flip-npz");
    let good = dir.join("good.npz");
    let tensors = sample_tensors();
    save_npz(&good, &tensors).unwrap();
    let bytes = fs::read(&good).unwrap();
    let regions = npy_regions(&bytes, &tensors);
    let path = dir.join("flipped.npz");
    let mut errors = 0;
    for i in 0..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[i] ^= 0xFF;
        fs::write(&path, &damaged).unwrap();
        let in_array = regions.iter().any(|r| r.contains(&i));
        match load_npz(&path) {
            Err(err) => {
                assert_names_file(&err, &path);
                errors += 1;
            }
            // A flip in a zip field nobody checks (a timestamp, "version made by"…) is
            // harmless; a flip in an array's bytes must be caught by the CRC.
            Ok(_) => assert!(
                !in_array,
                "a flipped byte at {i}, inside an array, went unnoticed"
            ),
        }
    }
    assert!(
        errors > bytes.len() / 2,
        "only {errors} of {} flips were errors",
        bytes.len()
    );
}

#[test]
fn flipped_header_bytes_in_an_npy_are_errors() {
    let dir = TempDir::new("flip-npy");
    let good = dir.join("good.npy");
    let t = Tensor::from_f64(DType::F32, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    save_npy(&good, &t).unwrap();
    let bytes = fs::read(&good).unwrap();
    let data_start = 10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let path = dir.join("flipped.npy");
    for i in 0..data_start {
        let mut damaged = bytes.clone();
        damaged[i] ^= 0xFF;
        fs::write(&path, &damaged).unwrap();
        match load_npy(&path) {
            Err(err) => assert_names_file(&err, &path),
            // Byte 7 is the minor format version, which carries no information we use.
            Ok(loaded) => {
                assert_eq!(i, 7, "flipping header byte {i} went unnoticed");
                assert_same(&loaded, &t);
            }
        }
    }
}

/// A version-1 `.npy` image with the given header dictionary and data.
fn npy_image(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut header = dict.to_owned();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

#[test]
fn hostile_headers_are_errors_not_huge_allocations() {
    let dir = TempDir::new("hostile");
    let path = dir.join("h.npy");
    let cases = [
        // A shape promising petabytes, with 8 bytes of data: must not try to allocate.
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1125899906842624,), }",
            "truncated",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }",
            "too large",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999999999999999999999,), }",
            "too large",
        ),
        ("{'descr': '<f8', 'fortran_order': False, }", "shape"),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'extra': 1, }",
            "extra",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'shape': (1,), }",
            "twice",
        ),
        (
            "{'descr': '<f8', 'fortran_order': 'no', 'shape': (1,), }",
            "fortran_order",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }",
            "header",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': ((((((((((((((((((((((((((((((((((((1,),),),),),),),),),),),),),),),),),),),),),),),),),),),),),),),),),),),),), }",
            "deeply",
        ),
        ("[1, 2, 3]", "dictionary"),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), } trailing",
            "after the dictionary",
        ),
        ("{'descr': '<f8", "unterminated"),
    ];
    for (dict, expected) in cases {
        fs::write(&path, npy_image(dict, &[0; 8])).unwrap();
        let err = load_npy(&path).unwrap_err();
        assert!(matches!(err, IoError::Corrupt { .. }), "{dict}: {err}");
        assert!(
            err.to_string().contains(expected),
            "{dict}: expected `{expected}` in: {err}"
        );
        assert_names_file(&err, &path);
    }
    // Wrong dtype spelled out by hand, and a bool byte that is neither 0 nor 1.
    fs::write(
        &path,
        npy_image(
            "{'descr': '<u2', 'fortran_order': False, 'shape': (4,), }",
            &[0; 8],
        ),
    )
    .unwrap();
    assert!(matches!(
        load_npy(&path),
        Err(IoError::UnsupportedDtype { .. })
    ));
    fs::write(
        &path,
        npy_image(
            "{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }",
            &[1, 7],
        ),
    )
    .unwrap();
    let err = load_npy(&path).unwrap_err();
    assert!(matches!(err, IoError::Corrupt { .. }), "{err}");
    // Not an .npy at all.
    fs::write(&path, b"iteration,env_steps\n1,2\n").unwrap();
    assert!(load_npy(&path).unwrap_err().to_string().contains("magic"));
}

#[test]
fn a_zip_with_a_non_npy_member_is_an_error() {
    let dir = TempDir::new("zip-member");
    let path = dir.join("x.npz");
    let mut zip = zip::ZipWriter::new(fs::File::create(&path).unwrap());
    zip.start_file("notes.txt", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(b"hello").unwrap();
    zip.finish().unwrap();
    let err = load_npz(&path).unwrap_err();
    assert!(err.to_string().contains("`notes.txt`"), "{err}");
    assert_names_file(&err, &path);
}

#[test]
fn missing_files_and_directories_are_io_errors() {
    let dir = TempDir::new("missing");
    let path = dir.join("nope.npz");
    let err = load_npz(&path).unwrap_err();
    assert_eq!(
        err.io_error().map(io::Error::kind),
        Some(io::ErrorKind::NotFound),
        "{err}"
    );
    assert_names_file(&err, &path);
    let err = load_npy(dir.path()).unwrap_err();
    assert!(matches!(err, IoError::Io { .. }), "{err}");
    let err = load_npz(dir.path()).unwrap_err();
    assert!(
        matches!(err, IoError::Io { .. } | IoError::Corrupt { .. }),
        "{err}"
    );
}

// ------------------------------------------------------------------------------------
// Atomic writes
// ------------------------------------------------------------------------------------

#[test]
fn write_atomic_replaces_the_whole_file() {
    let dir = TempDir::new("atomic");
    let path = dir.join("f.txt");
    write_atomic(&path, b"a much longer first version").unwrap();
    write_atomic(&path, b"short").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"short");
    assert_eq!(dir.list(), ["f.txt"]);
}

/// Replacing a file keeps its permissions, and replacing a symbolic link writes the file
/// it points to (through a chain of links too) and leaves the links as they were.
#[cfg(unix)]
#[test]
fn write_atomic_keeps_permissions_and_writes_through_links() {
    use std::os::unix::fs::{PermissionsExt, symlink};
    let dir = TempDir::new("atomic-links");
    let path = dir.join("real.rlp");
    write_atomic(&path, b"x=1\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    write_atomic(&path, b"x = 1\n").unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );

    symlink("real.rlp", dir.join("link.rlp")).unwrap();
    symlink(dir.join("link.rlp"), dir.join("link2.rlp")).unwrap();
    write_atomic(&dir.join("link2.rlp"), b"y = 2\n").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"y = 2\n");
    for link in ["link.rlp", "link2.rlp"] {
        let meta = fs::symlink_metadata(dir.join(link)).unwrap();
        assert!(meta.file_type().is_symlink(), "{link} is still a link");
    }
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(dir.list(), ["link.rlp", "link2.rlp", "real.rlp"]);
}

#[test]
fn write_atomic_to_a_relative_path() {
    // A bare file name has no parent; the temporary file goes in the current directory.
    let name = format!("rlp-test-relative-{}.txt", std::process::id());
    write_atomic(Path::new(&name), b"x").unwrap();
    assert_eq!(fs::read(&name).unwrap(), b"x");
    fs::remove_file(&name).unwrap();
}

#[test]
fn a_failed_write_leaves_the_old_file_and_no_temporary() {
    let dir = TempDir::new("enospc");
    let path = dir.join("ckpt.npz");
    write_atomic(&path, b"old and complete").unwrap();
    // What a full disk looks like from inside the write.
    let err = write_atomic_with(&path, |file| {
        file.write_all(b"new but only ha")?;
        Err(io::Error::from_raw_os_error(28))
    })
    .unwrap_err();
    assert_names_file(&err, &path);
    assert!(err.to_string().contains("No space left on device"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), b"old and complete");
    assert_eq!(dir.list(), ["ckpt.npz"], "the temporary file was removed");
}

#[test]
fn a_panicking_writer_leaves_no_temporary() {
    let dir = TempDir::new("panic");
    let path = dir.join("f");
    let result = std::panic::catch_unwind(|| {
        let _ = write_atomic_with(&path, |file| {
            file.write_all(b"partial")?;
            panic!("writer bug");
        });
    });
    assert!(result.is_err());
    assert!(dir.list().is_empty(), "left: {:?}", dir.list());
}

#[test]
fn unwritable_destinations_are_errors_naming_the_file() {
    let dir = TempDir::new("unwritable");
    // Tests run as root, where permission bits do not stop writes; a path below a regular
    // file fails for everyone (ENOTDIR).
    let file = dir.join("a_file");
    fs::write(&file, b"x").unwrap();
    let t = Tensor::zeros(DType::F32, &[2]);
    let cases = [
        file.join("sub/x.npz"),
        file.join("x.npy"),
        dir.join("missing_dir/x.npz"),
    ];
    for path in cases {
        for err in [
            write_atomic(&path, b"bytes").unwrap_err(),
            save_npz(&path, &[("t".into(), t.clone())]).unwrap_err(),
            save_npy(&path, &t).unwrap_err(),
        ] {
            assert!(matches!(err, IoError::Io { .. }), "{err}");
            assert_names_file(&err, &path);
        }
    }
    // The target is an existing directory: the rename fails, nothing is left behind.
    fs::create_dir(dir.join("d")).unwrap();
    let err = write_atomic(&dir.join("d"), b"x").unwrap_err();
    assert!(matches!(err, IoError::Io { .. }), "{err}");
    assert_eq!(dir.list(), ["a_file", "d"]);
    // No file name at all.
    assert!(matches!(
        write_atomic(Path::new("/"), b"x"),
        Err(IoError::Invalid { .. })
    ));
}

#[test]
fn concurrent_writers_never_expose_a_partial_file() {
    let dir = TempDir::new("concurrent");
    let path = dir.join("shared.bin");
    let contents: Vec<Vec<u8>> = (0..4u8).map(|k| vec![k; 64 * 1024 + k as usize]).collect();
    write_atomic(&path, &contents[0]).unwrap();
    std::thread::scope(|s| {
        for c in &contents {
            let path = &path;
            s.spawn(move || {
                for _ in 0..20 {
                    write_atomic(path, c).unwrap();
                }
            });
        }
        let path = &path;
        let contents = &contents;
        s.spawn(move || {
            for _ in 0..200 {
                let seen = fs::read(path).unwrap();
                assert!(
                    contents.contains(&seen),
                    "read a file of {} bytes that no writer wrote",
                    seen.len()
                );
            }
        });
    });
    assert_eq!(dir.list(), ["shared.bin"]);
}

#[test]
fn numpy_default_int64_is_read_as_i32_when_it_fits() {
    let t = load_npy(&fixture("numpy_i64.npy")).unwrap();
    assert_eq!(t, Tensor::I32(ndarray::arr1(&[0, -5, 7]).into_dyn()));
    let path = fixture("numpy_i64_wide.npy");
    let err = load_npy(&path).unwrap_err();
    assert!(err.to_string().contains("1099511627776"), "{err}");
    assert_names_file(&err, &path);
}
