//! `metrics.csv`: rows survive a kill, floats round-trip exactly, resuming gives the file
//! an uninterrupted run would have written, and bad input is an error naming the file.

mod common;

use std::fs;

use common::{TempDir, assert_names_file};
use rlp_runtime::io::IoError;
use rlp_runtime::metrics::{MetricsWriter, read_metrics_csv};

#[test]
fn header_and_rows() {
    let dir = TempDir::new("metrics");
    let path = dir.join("metrics.csv");
    let mut w = MetricsWriter::create(&path, &["return", "loss"]).unwrap();
    w.write_row(1, 200, 0.5, &[10.0, 0.25]).unwrap();
    w.write_row(2, 400, 1.0, &[f64::NAN, f64::INFINITY])
        .unwrap();
    drop(w);
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "iteration,env_steps,wall_s,return,loss\n1,200,0.5,10,0.25\n2,400,1,nan,inf\n"
    );
    let (names, rows) = read_metrics_csv(&path).unwrap();
    assert_eq!(
        names,
        ["iteration", "env_steps", "wall_s", "return", "loss"]
    );
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0], [1.0, 200.0, 0.5, 10.0, 0.25]);
    assert!(rows[1][3].is_nan());
    assert_eq!(rows[1][4], f64::INFINITY);
}

#[test]
fn no_metrics_is_fine() {
    let dir = TempDir::new("metrics-none");
    let path = dir.join("metrics.csv");
    let mut w = MetricsWriter::create::<&str>(&path, &[]).unwrap();
    w.write_row(7, 0, 0.0, &[]).unwrap();
    assert_eq!(read_metrics_csv(&path).unwrap().1, [[7.0, 0.0, 0.0]]);
}

#[test]
fn each_row_is_in_the_file_before_the_writer_is_dropped() {
    // A killed run never drops its writer: what is in the file then is all there is.
    let dir = TempDir::new("metrics-kill");
    let path = dir.join("metrics.csv");
    let mut w = MetricsWriter::create(&path, &["r"]).unwrap();
    for i in 0..5 {
        w.write_row(i, i * 10, i as f64, &[i as f64 * 0.5]).unwrap();
        assert_eq!(read_metrics_csv(&path).unwrap().1.len() as u64, i + 1);
    }
    std::mem::forget(w);
}

#[test]
fn floats_round_trip_bit_for_bit() {
    let dir = TempDir::new("metrics-bits");
    let path = dir.join("metrics.csv");
    // Deterministic pseudo-random bit patterns plus the awkward cases.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut values: Vec<f64> = (0..2000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            f64::from_bits(x)
        })
        .filter(|v| v.is_finite())
        .collect();
    values.extend([
        0.0,
        -0.0,
        0.1 + 0.2,
        1e-30,
        1e300,
        -1e-320,
        f64::MIN_POSITIVE,
        f64::MAX,
        f64::MIN,
        1e16,
        1e-5,
    ]);
    values.extend([f64::NEG_INFINITY, 123456789.125]);
    let mut w = MetricsWriter::create(&path, &["v"]).unwrap();
    for (i, &v) in values.iter().enumerate() {
        w.write_row(i as u64, u64::MAX - i as u64, v, &[v]).unwrap();
    }
    let (_, rows) = read_metrics_csv(&path).unwrap();
    for (row, &v) in rows.iter().zip(&values) {
        assert_eq!(row[2].to_bits(), v.to_bits(), "wall_s {v:e}");
        assert_eq!(row[3].to_bits(), v.to_bits(), "value {v:e}");
    }
    // Huge and tiny magnitudes use an exponent rather than hundreds of digits.
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.lines().all(|l| l.len() < 120), "a line is too long");
}

#[test]
fn a_row_of_the_wrong_width_is_an_error_and_writes_nothing() {
    let dir = TempDir::new("metrics-width");
    let path = dir.join("metrics.csv");
    let mut w = MetricsWriter::create(&path, &["a", "b"]).unwrap();
    let err = w.write_row(1, 1, 1.0, &[1.0]).unwrap_err();
    assert!(matches!(err, IoError::Invalid { .. }), "{err}");
    assert!(
        err.to_string().contains("needs 2 metric values, got 1"),
        "{err}"
    );
    assert_names_file(&err, &path);
    assert!(read_metrics_csv(&path).unwrap().1.is_empty());
}

#[test]
fn bad_metric_names_are_refused() {
    let dir = TempDir::new("metrics-names");
    let path = dir.join("metrics.csv");
    for names in [
        &["a,b"][..],
        &["x", "x"],
        &["wall_s"],
        &[""],
        &["line\nbreak"],
        &["q\"uote"],
    ] {
        let err = MetricsWriter::create(&path, names).unwrap_err();
        assert!(matches!(err, IoError::Invalid { .. }), "{names:?}: {err}");
        assert_names_file(&err, &path);
    }
    assert!(dir.list().is_empty(), "nothing is created for a bad header");
}

#[test]
fn unwritable_paths_are_errors_naming_the_file() {
    let dir = TempDir::new("metrics-unwritable");
    let file = dir.join("file");
    fs::write(&file, b"").unwrap();
    for path in [
        file.join("metrics.csv"),
        dir.join("no/such/dir/metrics.csv"),
    ] {
        let err = MetricsWriter::create(&path, &["r"]).unwrap_err();
        assert!(matches!(err, IoError::Io { .. }), "{err}");
        assert_names_file(&err, &path);
    }
}

#[test]
fn resume_drops_rows_after_the_checkpoint_and_matches_an_uninterrupted_run() {
    let dir = TempDir::new("metrics-resume");
    let names = ["return"];
    let row = |i: u64| (i, i * 100, i as f64 * 0.1, [i as f64 / 3.0]);

    let straight = dir.join("straight.csv");
    let mut w = MetricsWriter::create(&straight, &names).unwrap();
    for i in 1..=10 {
        let (a, b, c, d) = row(i);
        w.write_row(a, b, c, &d).unwrap();
    }

    // Run to iteration 8, killed mid-row; the last checkpoint was taken after iteration 6.
    let resumed = dir.join("resumed.csv");
    let mut w = MetricsWriter::create(&resumed, &names).unwrap();
    for i in 1..=8 {
        let (a, b, c, d) = row(i);
        w.write_row(a, b, c, &d).unwrap();
    }
    drop(w);
    let mut f = fs::OpenOptions::new().append(true).open(&resumed).unwrap();
    std::io::Write::write_all(&mut f, b"9,900,0.9").unwrap();
    drop(f);

    let mut w = MetricsWriter::resume(&resumed, &names, 6).unwrap();
    assert_eq!(read_metrics_csv(&resumed).unwrap().1.len(), 6);
    for i in 7..=10 {
        let (a, b, c, d) = row(i);
        w.write_row(a, b, c, &d).unwrap();
    }
    assert_eq!(fs::read(&resumed).unwrap(), fs::read(&straight).unwrap());
}

#[test]
fn resume_refuses_a_file_with_other_columns_and_creates_a_missing_one() {
    let dir = TempDir::new("metrics-resume-cols");
    let path = dir.join("metrics.csv");
    MetricsWriter::create(&path, &["a"])
        .unwrap()
        .write_row(1, 1, 1.0, &[1.0])
        .unwrap();
    let err = MetricsWriter::resume(&path, &["b"], 1).unwrap_err();
    assert!(matches!(err, IoError::Invalid { .. }), "{err}");
    assert_names_file(&err, &path);
    assert_eq!(
        read_metrics_csv(&path).unwrap().1.len(),
        1,
        "the existing file is untouched"
    );

    let fresh = dir.join("fresh.csv");
    let mut w = MetricsWriter::resume(&fresh, &["a"], 5).unwrap();
    w.write_row(6, 1, 1.0, &[2.0]).unwrap();
    assert_eq!(read_metrics_csv(&fresh).unwrap().1, [[6.0, 1.0, 1.0, 2.0]]);
}

#[test]
fn reading_bad_files() {
    let dir = TempDir::new("metrics-read");
    let path = dir.join("metrics.csv");
    let header = "iteration,env_steps,wall_s,r\n";

    // A last row cut short by a kill is ignored …
    fs::write(&path, format!("{header}1,2,3,4\n5,6,7")).unwrap();
    assert_eq!(read_metrics_csv(&path).unwrap().1, [[1.0, 2.0, 3.0, 4.0]]);
    // … but a complete last row without its newline is kept, and CRLF is accepted.
    fs::write(&path, format!("{header}1,2,3,4\r\n5,6,7,NaN")).unwrap();
    let rows = read_metrics_csv(&path).unwrap().1;
    assert_eq!(rows.len(), 2);
    assert!(rows[1][3].is_nan());

    for (content, expected) in [
        (String::new(), "empty"),
        ("a,b,c\n1,2,3\n".to_owned(), "header"),
        (format!("{header}1,2,3,4\n1,2,x,4\n3,3,3,3\n"), "line 3"),
        (format!("{header}1,2,3\n3,3,3,3\n"), "line 2"),
    ] {
        fs::write(&path, content.as_bytes()).unwrap();
        let err = read_metrics_csv(&path).unwrap_err();
        assert!(matches!(err, IoError::Corrupt { .. }), "{err}");
        assert!(
            err.to_string().contains(expected),
            "expected `{expected}` in: {err}"
        );
        assert_names_file(&err, &path);
    }
    fs::write(&path, b"\xff\xfe").unwrap();
    assert!(matches!(
        read_metrics_csv(&path),
        Err(IoError::Corrupt { .. })
    ));
    let missing = dir.join("missing.csv");
    assert_names_file(&read_metrics_csv(&missing).unwrap_err(), &missing);
}

#[test]
fn held_rows_are_written_on_flush_on_drop_and_after_the_period() {
    let dir = TempDir::new("metrics-hold");
    let path = dir.join("metrics.csv");
    let rows = || read_metrics_csv(&path).unwrap().1.len();
    let mut w = MetricsWriter::create(&path, &["r"]).unwrap();
    w.write_row(0, 0, 0.0, &[0.5]).unwrap();
    assert_eq!(
        rows(),
        1,
        "rows before holding is turned on are written at once"
    );
    w.hold_rows(std::time::Duration::from_secs(3600)).unwrap();
    for i in 1..4 {
        w.write_row(i, i, i as f64, &[0.5]).unwrap();
    }
    assert_eq!(rows(), 1, "held for the period");
    w.flush().unwrap();
    assert_eq!(rows(), 4);
    w.write_row(4, 4, 4.0, &[0.25]).unwrap();
    assert_eq!(rows(), 4);
    drop(w);
    assert_eq!(rows(), 5, "the writer's drop writes what it held");
    // A short period: a row older than it goes out with the next one.
    let mut w = MetricsWriter::resume(&path, &["r"], 4).unwrap();
    w.hold_rows(std::time::Duration::from_millis(20)).unwrap();
    w.write_row(5, 5, 5.0, &[1.0]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(40));
    w.write_row(6, 6, 6.0, &[1.0]).unwrap();
    assert_eq!(rows(), 7);
    std::mem::forget(w);
    // Byte for byte what a writer that holds nothing writes.
    let plain = dir.join("plain.csv");
    let mut p = MetricsWriter::create(&plain, &["r"]).unwrap();
    for (i, v) in [0.5, 0.5, 0.5, 0.5, 0.25, 1.0, 1.0].into_iter().enumerate() {
        p.write_row(i as u64, i as u64, i as f64, &[v]).unwrap();
    }
    assert_eq!(fs::read(&path).unwrap(), fs::read(&plain).unwrap());
}
