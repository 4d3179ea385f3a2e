//! Checkpoints: round trips, `latest.json` only ever naming a complete checkpoint,
//! pruning that keeps the newest K, and clean errors for damaged or unwritable ones.

mod common;

use std::fs;
use std::path::Path;

use common::{TempDir, assert_names_file};
use ndarray::{ArrayD, IxDyn};
use rlp_runtime::checkpoint::{
    LATEST, load_latest, load_newest_intact, meta_path, npz_path, save_checkpoint,
};
use rlp_runtime::io::IoError;
use rlp_runtime::{DType, Tensor};
use serde_json::json;

fn state(step: u64) -> Vec<(String, Tensor)> {
    let s = step as f64;
    vec![
        (
            "policy.w".into(),
            Tensor::from_f64(
                DType::F32,
                &[2, 3],
                &[s, 1.5, -2.0, 0.25, 1e-8, f64::from(f32::MAX)],
            ),
        ),
        (
            "adam.m".into(),
            Tensor::from_f64(DType::F64, &[3], &[s / 3.0, -0.0, 1e300]),
        ),
        (
            "rng.counter".into(),
            Tensor::I32(ArrayD::from_shape_vec(IxDyn(&[]), vec![step as i32]).unwrap()),
        ),
        (
            "env.done".into(),
            Tensor::Bool(
                ArrayD::from_shape_vec(
                    IxDyn(&[4]),
                    vec![true, false, step.is_multiple_of(2), true],
                )
                .unwrap(),
            ),
        ),
        ("buffer.obs".into(), Tensor::zeros(DType::F32, &[0, 4])),
    ]
}

fn checkpoint_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("ckpt-"))
        .collect();
    names.sort();
    names
}

#[test]
fn nothing_saved_yet_is_none() {
    let dir = TempDir::new("ckpt-none");
    assert!(load_latest(dir.path()).unwrap().is_none());
    assert!(load_latest(&dir.join("not/created/yet")).unwrap().is_none());
}

#[test]
fn round_trip_of_every_dtype_and_the_metadata() {
    let dir = TempDir::new("ckpt-rt");
    let meta = json!({"iteration": 12, "config": {"lr": 0.01, "envs": [1, 2]}, "note": "ünïcode"});
    let npz = save_checkpoint(dir.path(), 1200, &state(1200), &meta, 3).unwrap();
    assert_eq!(npz, npz_path(dir.path(), 1200));
    let (step, loaded, loaded_meta) = load_latest(dir.path()).unwrap().expect("a checkpoint");
    assert_eq!(step, 1200);
    assert_eq!(loaded, state(1200));
    assert_eq!(loaded_meta, meta);
    let latest: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join(LATEST)).unwrap()).unwrap();
    assert_eq!(latest, json!({"step": 1200}));
    // Only the three files: no temporary left behind.
    let mut all = dir.list();
    all.sort();
    assert_eq!(all, ["ckpt-1200.json", "ckpt-1200.npz", "latest.json"]);
}

#[test]
fn latest_follows_the_newest_save_and_old_ones_are_pruned() {
    let dir = TempDir::new("ckpt-keep");
    for step in [100, 200, 300, 400, 500] {
        save_checkpoint(dir.path(), step, &state(step), &json!({"step": step}), 2).unwrap();
        let (latest, loaded, meta) = load_latest(dir.path()).unwrap().unwrap();
        assert_eq!((latest, meta), (step, json!({"step": step})));
        assert_eq!(loaded, state(step));
    }
    assert_eq!(
        checkpoint_files(dir.path()),
        [
            "ckpt-400.json",
            "ckpt-400.npz",
            "ckpt-500.json",
            "ckpt-500.npz"
        ]
    );

    save_checkpoint(dir.path(), 600, &state(600), &json!(null), 1).unwrap();
    assert_eq!(
        checkpoint_files(dir.path()),
        ["ckpt-600.json", "ckpt-600.npz"]
    );
}

#[test]
fn keep_zero_keeps_everything() {
    let dir = TempDir::new("ckpt-keep0");
    for step in 1..=4 {
        save_checkpoint(dir.path(), step, &state(step), &json!({}), 0).unwrap();
    }
    assert_eq!(checkpoint_files(dir.path()).len(), 8);
}

#[test]
fn pruning_leaves_newer_steps_and_other_files_alone() {
    let dir = TempDir::new("ckpt-prune");
    for step in [10, 20, 30] {
        save_checkpoint(dir.path(), step, &state(step), &json!({}), 0).unwrap();
    }
    fs::write(dir.join("ckpt-best.npz"), b"user's own file").unwrap();
    fs::write(dir.join("ckpt-007.npz"), b"not our spelling of step 7").unwrap();
    fs::write(dir.join("ckpt-5.npz.bak"), b"not ours either").unwrap();
    // Resumed from step 20 (say) and saving step 25: 30 is from the abandoned future.
    save_checkpoint(dir.path(), 25, &state(25), &json!({}), 2).unwrap();
    assert_eq!(load_latest(dir.path()).unwrap().unwrap().0, 25);
    assert_eq!(
        checkpoint_files(dir.path()),
        [
            "ckpt-007.npz",
            "ckpt-20.json",
            "ckpt-20.npz",
            "ckpt-25.json",
            "ckpt-25.npz",
            "ckpt-30.json",
            "ckpt-30.npz",
            "ckpt-5.npz.bak",
            "ckpt-best.npz"
        ]
    );
}

#[test]
fn a_crash_mid_save_leaves_the_previous_checkpoint_as_latest() {
    let dir = TempDir::new("ckpt-crash");
    save_checkpoint(dir.path(), 1, &state(1), &json!({"ok": 1}), 5).unwrap();
    // What a kill during the next save can leave: a temporary file of the npz being
    // written (from a process that no longer exists), or a complete npz without its json.
    let stale_temp = dir.join(".ckpt-2.npz.4000000000.0.tmp");
    fs::write(&stale_temp, b"PK\x03\x04 half an archive").unwrap();
    fs::write(
        dir.join("ckpt-2.npz"),
        fs::read(npz_path(dir.path(), 1)).unwrap(),
    )
    .unwrap();
    let (step, loaded, meta) = load_latest(dir.path()).unwrap().unwrap();
    assert_eq!((step, meta), (1, json!({"ok": 1})));
    assert_eq!(loaded, state(1));

    // The resumed run saves step 2 for real: it replaces the orphan, cleans the temporary.
    save_checkpoint(dir.path(), 2, &state(2), &json!({"ok": 2}), 5).unwrap();
    assert!(!stale_temp.exists());
    assert_eq!(load_latest(dir.path()).unwrap().unwrap().1, state(2));
}

#[test]
fn a_damaged_latest_checkpoint_is_a_clean_error_naming_the_file() {
    let dir = TempDir::new("ckpt-corrupt");
    save_checkpoint(dir.path(), 7, &state(7), &json!({}), 3).unwrap();
    let npz = npz_path(dir.path(), 7);
    let good = fs::read(&npz).unwrap();

    let cut = &good[..good.len() / 2];
    let mut flipped = good.clone();
    // A byte inside the data of the first array (its .npy header is 128 bytes).
    let data = flipped.windows(6).position(|w| w == b"\x93NUMPY").unwrap() + 140;
    flipped[data] ^= 0x5A;
    for damaged in [
        cut.to_vec(),
        flipped,
        Vec::new(),
        b"not a zip file at all".to_vec(),
    ] {
        fs::write(&npz, &damaged).unwrap();
        let err = load_latest(dir.path()).unwrap_err();
        assert!(matches!(err, IoError::Corrupt { .. }), "{err}");
        assert_names_file(&err, &npz);
    }

    fs::remove_file(&npz).unwrap();
    let err = load_latest(dir.path()).unwrap_err();
    assert_eq!(
        err.io_error().map(|e| e.kind()),
        Some(std::io::ErrorKind::NotFound),
        "{err}"
    );
    assert_names_file(&err, &npz);
    fs::write(&npz, &good).unwrap();

    let meta = meta_path(dir.path(), 7);
    fs::write(&meta, b"{\"trunc").unwrap();
    let err = load_latest(dir.path()).unwrap_err();
    assert!(matches!(err, IoError::Corrupt { .. }), "{err}");
    assert_names_file(&err, &meta);
    fs::write(&meta, b"{}").unwrap();

    let latest = dir.join(LATEST);
    for bad in [
        &b""[..],
        b"{\"step\": -1}",
        b"{\"step\": \"7\"}",
        b"{\"stp\": 7}",
    ] {
        fs::write(&latest, bad).unwrap();
        let err = load_latest(dir.path()).unwrap_err();
        assert!(matches!(err, IoError::Corrupt { .. }), "{err}");
        assert_names_file(&err, &latest);
    }
}

#[test]
fn an_unwritable_directory_is_an_error_not_a_panic() {
    let dir = TempDir::new("ckpt-unwritable");
    // Tests run as root, where permission bits do not stop writes; a directory below a
    // regular file cannot be created by anyone.
    let file = dir.join("somefile");
    fs::write(&file, b"x").unwrap();
    let target = file.join("sub");
    let err = save_checkpoint(&target, 1, &state(1), &json!({}), 2).unwrap_err();
    assert!(matches!(err, IoError::Io { .. }), "{err}");
    assert_names_file(&err, &target);
    let err = load_latest(&target).unwrap_err();
    assert!(matches!(err, IoError::Io { .. }), "{err}");
}

#[test]
fn a_failed_save_does_not_touch_the_latest_checkpoint() {
    let dir = TempDir::new("ckpt-failed");
    save_checkpoint(dir.path(), 1, &state(1), &json!({"n": 1}), 2).unwrap();
    let t = Tensor::zeros(DType::F32, &[1]);
    let err = save_checkpoint(
        dir.path(),
        2,
        &[("x".into(), t.clone()), ("x".into(), t)],
        &json!({}),
        2,
    )
    .unwrap_err();
    assert!(matches!(err, IoError::Invalid { .. }), "{err}");
    assert_eq!(load_latest(dir.path()).unwrap().unwrap().0, 1);
    assert_eq!(checkpoint_files(dir.path()), ["ckpt-1.json", "ckpt-1.npz"]);
}

#[test]
fn resuming_falls_back_past_damaged_checkpoints_and_a_lost_index() {
    let dir = TempDir::new("ckpt-fallback");
    assert!(load_newest_intact(dir.path()).unwrap().is_none());
    for step in [2, 4, 6] {
        save_checkpoint(dir.path(), step, &state(step), &json!({"n": step}), 0).unwrap();
    }
    let r = load_newest_intact(dir.path()).unwrap().unwrap();
    assert_eq!(r.checkpoint.0, 6);
    assert!(r.notes.is_empty(), "{:?}", r.notes);

    // The newest truncated, the next one's metadata broken: the oldest is used.
    let npz6 = npz_path(dir.path(), 6);
    let good6 = fs::read(&npz6).unwrap();
    fs::write(&npz6, &good6[..good6.len() / 2]).unwrap();
    fs::write(meta_path(dir.path(), 4), b"{\"trunc").unwrap();
    let r = load_newest_intact(dir.path()).unwrap().unwrap();
    assert_eq!(r.checkpoint.0, 2);
    assert_eq!(r.checkpoint.1, state(2));
    assert_eq!(r.checkpoint.2, json!({"n": 2}));
    assert_eq!(r.notes.len(), 2, "{:?}", r.notes);
    assert!(
        r.notes[0].starts_with("checkpoint 6 is unreadable ("),
        "{:?}",
        r.notes
    );
    assert!(r.notes[0].ends_with("; resuming from 2"), "{:?}", r.notes);
    assert!(
        r.notes[1].starts_with("checkpoint 4 is unreadable ("),
        "{:?}",
        r.notes
    );
    // load_latest still refuses to guess.
    assert!(load_latest(dir.path()).is_err());

    // A missing checkpoint file and a lost index: the directory is listed.
    fs::remove_file(&npz6).unwrap();
    fs::remove_file(dir.join(LATEST)).unwrap();
    assert!(load_latest(dir.path()).unwrap().is_none());
    let r = load_newest_intact(dir.path()).unwrap().unwrap();
    assert_eq!(r.checkpoint.0, 2);
    assert!(
        r.notes[0].contains("is missing; found 2 checkpoint(s)"),
        "{:?}",
        r.notes
    );
    // An unreadable index: listed too, and said so.
    fs::write(dir.join(LATEST), b"{\"stp\": 4}").unwrap();
    let r = load_newest_intact(dir.path()).unwrap().unwrap();
    assert_eq!(r.checkpoint.0, 2);
    assert!(r.notes[0].contains("is unreadable"), "{:?}", r.notes);

    // Checkpoints newer than the one the index names (left by a stretch of the run that
    // was abandoned by resuming from an earlier one) are not candidates.
    fs::write(&npz6, &good6).unwrap();
    fs::write(dir.join(LATEST), b"{\"step\": 2}").unwrap();
    let r = load_newest_intact(dir.path()).unwrap().unwrap();
    assert_eq!(r.checkpoint.0, 2);
    assert!(r.notes.is_empty(), "{:?}", r.notes);

    // Nothing readable: the newest one's error.
    fs::write(npz_path(dir.path(), 2), b"not a zip file at all").unwrap();
    let err = load_newest_intact(dir.path()).err().unwrap();
    assert_names_file(&err, &npz_path(dir.path(), 2));
}
