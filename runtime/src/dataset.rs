//! Datasets of logged transitions: the `.npz` files `rlpc collect` writes and a
//! program's `dataset("file.npz")` reads (`docs/datasets.md`).
//!
//! One row per transition, rows grouped by episode in time order; an episode ends at a
//! row whose `terminations` or `truncations` is true (the rows after the last such row,
//! if any, are an episode cut off by the end of the file). The arrays are named as
//! Minari and D4RL name them, and a program sees them under the names its rollouts use:
//!
//! | in the file          | in a program | rows              |
//! |----------------------|--------------|-------------------|
//! | `observations`       | `obs`        | `[R, …]` f32      |
//! | `actions`            | `action`     | `[R]` i32 or `[R, …]` f32 |
//! | `rewards`            | `reward`     | `[R]` f32         |
//! | `next_observations`  | `next_obs`   | `[R, …]` f32      |
//! | `terminations`       | `terminated` | `[R]` bool        |
//! | `truncations`        | `truncated`  | `[R]` bool        |
//! | `log_probs`          | `log_prob`   | `[R]` f32, optional: the behaviour policy's log-probability of the action |
//!
//! Any other array with `R` rows (a goal, a behaviour log-probability) keeps its name.
//! Float arrays written as f64 are read as f32, integer arrays written as i64 as i32.
//!
//! Nothing here panics on a bad file: every problem is a [`DataError`] naming the file
//! and, where there is one, the array.

use crate::io::{self, IoError};
use crate::tensor::{DType, Tensor};
use ndarray::{ArrayD, Axis, IxDyn};
use std::path::{Path, PathBuf};

/// `(name in the file, name in a program)` of the standard fields.
pub const STANDARD_FIELDS: [(&str, &str); 7] = [
    ("observations", "obs"),
    ("actions", "action"),
    ("rewards", "reward"),
    ("next_observations", "next_obs"),
    ("terminations", "terminated"),
    ("truncations", "truncated"),
    ("log_probs", "log_prob"),
];

/// The name a program sees for the array `file_name`.
pub fn program_name(file_name: &str) -> &str {
    STANDARD_FIELDS
        .iter()
        .find(|(f, _)| *f == file_name)
        .map_or(file_name, |(_, p)| p)
}

/// The name of the array a program's field `program_name` is stored under.
pub fn file_name(program_name: &str) -> &str {
    STANDARD_FIELDS
        .iter()
        .find(|(_, p)| *p == program_name)
        .map_or(program_name, |(f, _)| f)
}

/// A dataset file that cannot be used, with the file (and array) it is about.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("`{}`: {detail}", .path.display())]
    Invalid { path: PathBuf, detail: String },
}

impl DataError {
    fn invalid(path: &Path, detail: impl Into<String>) -> DataError {
        DataError::Invalid {
            path: path.to_owned(),
            detail: detail.into(),
        }
    }
}

/// A loaded dataset: its arrays under their program names, in file order, each with
/// `rows` rows, and where its episodes start.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub fields: Vec<(String, Tensor)>,
    pub rows: usize,
    /// The first row of each episode, ascending; the episode runs to the next start.
    pub episode_starts: Vec<usize>,
}

impl Dataset {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Dataset, DataError> {
        let arrays = io::load_npz(path)?;
        Dataset::from_arrays(path, arrays)
    }

    /// Checks arrays named as in the file (`observations`, …) and builds the dataset;
    /// `path` is only for errors.
    pub fn from_arrays(path: &Path, arrays: Vec<(String, Tensor)>) -> Result<Dataset, DataError> {
        if arrays.is_empty() {
            return Err(DataError::invalid(path, "the file holds no arrays"));
        }
        let mut rows = None;
        let mut fields = Vec::with_capacity(arrays.len());
        for (name, t) in arrays {
            let Some(&r) = t.shape().first() else {
                return Err(DataError::invalid(
                    path,
                    format!("array `{name}` is a scalar; every field has one row per transition"),
                ));
            };
            match rows {
                None => rows = Some((r, name.clone())),
                Some((n, ref first)) if n != r => {
                    return Err(DataError::invalid(
                        path,
                        format!(
                            "array `{name}` has {r} rows but `{first}` has {n}; every field has \
                             one row per transition"
                        ),
                    ));
                }
                Some(_) => {}
            }
            let t = match t {
                Tensor::F64(a) => Tensor::F32(a.mapv(|v| v as f32)),
                t => t,
            };
            if let Tensor::F32(a) = &t
                && let Some((i, v)) = a.iter().enumerate().find(|(_, v)| !v.is_finite())
            {
                // Caught here, not as a NaN in training traced to whatever op first
                // read the row.
                let row = i / (a.len() / r).max(1);
                return Err(DataError::invalid(
                    path,
                    format!(
                        "array `{name}` holds {v} at row {row}; a dataset's values must be finite"
                    ),
                ));
            }
            fields.push((program_name(&name).to_string(), t));
        }
        let rows = rows.map_or(0, |(n, _)| n);
        if rows == 0 {
            return Err(DataError::invalid(path, "the dataset has no rows"));
        }
        for (file, program, dtype) in [
            ("observations", "obs", Some(DType::F32)),
            ("actions", "action", None),
            ("rewards", "reward", Some(DType::F32)),
            ("terminations", "terminated", Some(DType::Bool)),
        ] {
            let Some((_, t)) = fields.iter().find(|(n, _)| n == program) else {
                return Err(DataError::invalid(
                    path,
                    format!(
                        "there is no array `{file}`; a dataset needs `observations`, `actions`, `rewards` and `terminations`"
                    ),
                ));
            };
            if let Some(d) = dtype
                && t.dtype() != d
            {
                return Err(DataError::invalid(
                    path,
                    format!("array `{file}` is {}, not {d}", t.dtype()),
                ));
            }
        }
        if let Some((_, t)) = fields.iter().find(|(n, _)| n == "truncated")
            && t.dtype() != DType::Bool
        {
            return Err(DataError::invalid(
                path,
                format!("array `truncations` is {}, not bool", t.dtype()),
            ));
        }
        for name in ["reward", "terminated", "truncated"] {
            if let Some((_, t)) = fields.iter().find(|(n, _)| n == name)
                && t.shape().len() != 1
            {
                return Err(DataError::invalid(
                    path,
                    format!(
                        "array `{}` has shape {:?}; it holds one value per row, [{rows}]",
                        file_name(name),
                        t.shape()
                    ),
                ));
            }
        }
        if !fields.iter().any(|(n, _)| n == "truncated") {
            // Optional in the file: no episode was cut short.
            fields.push(("truncated".into(), Tensor::full(DType::Bool, &[rows], 0.0)));
        }
        let ends = episode_ends(&fields, rows);
        let mut episode_starts = vec![0];
        episode_starts.extend(ends.iter().map(|&e| e + 1).filter(|&s| s < rows));
        Ok(Dataset {
            fields,
            rows,
            episode_starts,
        })
    }

    pub fn field(&self, name: &str) -> Option<&Tensor> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    pub fn episodes(&self) -> usize {
        self.episode_starts.len()
    }

    /// `(start, length)` of each episode.
    pub fn episode_spans(&self) -> Vec<(usize, usize)> {
        self.episode_starts
            .iter()
            .enumerate()
            .map(|(k, &s)| {
                let end = self.episode_starts.get(k + 1).copied().unwrap_or(self.rows);
                (s, end - s)
            })
            .collect()
    }

    /// The undiscounted return of each episode.
    pub fn episode_returns(&self) -> Vec<f64> {
        let r = self
            .field("reward")
            .map(Tensor::to_f64_vec)
            .unwrap_or_default();
        self.episode_spans()
            .iter()
            .map(|&(s, l)| r[s..s + l].iter().sum())
            .collect()
    }

    /// `[R] i32`: the episode each row belongs to, and the row's step within it.
    pub fn episode_index(&self) -> (Tensor, Tensor) {
        let mut episode = Vec::with_capacity(self.rows);
        let mut step = Vec::with_capacity(self.rows);
        for (k, (_, len)) in self.episode_spans().into_iter().enumerate() {
            episode.extend(std::iter::repeat_n(k as i32, len));
            step.extend(0..len as i32);
        }
        let t = |v: Vec<i32>| Tensor::I32(ArrayD::from_shape_vec(IxDyn(&[self.rows]), v).unwrap());
        (t(episode), t(step))
    }

    /// The datasets one after the other (an expert's episodes, then a random policy's:
    /// a mixture). They must have the same fields with the same row shapes and dtypes.
    pub fn concat(parts: &[(PathBuf, Dataset)]) -> Result<Dataset, DataError> {
        let Some((first_path, first)) = parts.first() else {
            return Err(DataError::invalid(Path::new(""), "no datasets to join"));
        };
        let mut fields = first.fields.clone();
        let mut episode_starts = first.episode_starts.clone();
        let mut rows = first.rows;
        for (path, d) in &parts[1..] {
            let names = |d: &Dataset| {
                d.fields
                    .iter()
                    .map(|(n, _)| file_name(n).to_string())
                    .collect::<Vec<_>>()
            };
            let (mut a, mut b) = (names(first), names(d));
            a.sort();
            b.sort();
            if a != b {
                return Err(DataError::invalid(
                    path,
                    format!(
                        "its arrays ({}) are not those of `{}` ({}); datasets joined together need the same fields",
                        b.join(", "),
                        first_path.display(),
                        a.join(", ")
                    ),
                ));
            }
            for (name, t) in &mut fields {
                let u = d.field(name).expect("same names");
                if u.dtype() != t.dtype() || u.shape()[1..] != t.shape()[1..] {
                    return Err(DataError::invalid(
                        path,
                        format!(
                            "array `{}` has rows of {} {:?}, but `{}` has {} {:?}",
                            file_name(name),
                            u.dtype(),
                            &u.shape()[1..],
                            first_path.display(),
                            t.dtype(),
                            &t.shape()[1..]
                        ),
                    ));
                }
                *t = concat_rows(t, u);
            }
            episode_starts.extend(d.episode_starts.iter().map(|s| s + rows));
            rows += d.rows;
        }
        Ok(Dataset {
            fields,
            rows,
            episode_starts,
        })
    }

    /// Writes the dataset to `path` (atomically), its arrays named as in the file.
    pub fn save(&self, path: &Path) -> Result<(), IoError> {
        let named: Vec<(String, Tensor)> = self
            .fields
            .iter()
            .map(|(n, t)| (file_name(n).to_string(), t.clone()))
            .collect();
        io::save_npz(path, &named)
    }
}

/// Rows where an episode ends: `terminated` or `truncated`.
fn episode_ends(fields: &[(String, Tensor)], rows: usize) -> Vec<usize> {
    let flag = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.to_f64_vec())
            .unwrap_or_else(|| vec![0.0; rows])
    };
    let (term, trunc) = (flag("terminated"), flag("truncated"));
    (0..rows)
        .filter(|&i| term[i] != 0.0 || trunc[i] != 0.0)
        .collect()
}

fn concat_rows(a: &Tensor, b: &Tensor) -> Tensor {
    fn join<T: Clone>(a: &ArrayD<T>, b: &ArrayD<T>) -> ArrayD<T> {
        ndarray::concatenate(Axis(0), &[a.view(), b.view()]).expect("same row shapes")
    }
    match (a, b) {
        (Tensor::F32(a), Tensor::F32(b)) => Tensor::F32(join(a, b)),
        (Tensor::F64(a), Tensor::F64(b)) => Tensor::F64(join(a, b)),
        (Tensor::I32(a), Tensor::I32(b)) => Tensor::I32(join(a, b)),
        (Tensor::Bool(a), Tensor::Bool(b)) => Tensor::Bool(join(a, b)),
        _ => unreachable!("dtypes checked by the caller"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrays(rows: usize, ends: &[usize]) -> Vec<(String, Tensor)> {
        let f = |shape: &[usize], v: f64| Tensor::full(DType::F32, shape, v);
        let mut term = vec![0.0; rows];
        for &e in ends {
            term[e] = 1.0;
        }
        vec![
            ("observations".into(), f(&[rows, 3], 0.5)),
            ("actions".into(), Tensor::full(DType::I32, &[rows], 1.0)),
            (
                "rewards".into(),
                Tensor::from_f64(
                    DType::F32,
                    &[rows],
                    &(0..rows).map(|i| i as f64).collect::<Vec<_>>(),
                ),
            ),
            (
                "terminations".into(),
                Tensor::from_f64(DType::Bool, &[rows], &term),
            ),
        ]
    }

    #[test]
    fn episodes_split_at_terminations_and_the_file_end() {
        let d = Dataset::from_arrays(Path::new("x.npz"), arrays(7, &[2, 4])).unwrap();
        assert_eq!(d.episode_spans(), vec![(0, 3), (3, 2), (5, 2)]);
        assert_eq!(d.episode_returns(), vec![3.0, 7.0, 11.0]);
        let (ep, step) = d.episode_index();
        assert_eq!(ep.to_f64_vec(), vec![0., 0., 0., 1., 1., 2., 2.]);
        assert_eq!(step.to_f64_vec(), vec![0., 1., 2., 0., 1., 0., 1.]);
        assert_eq!(d.field("obs").unwrap().shape(), &[7, 3]);
    }

    #[test]
    fn bad_files_name_the_array() {
        let mut a = arrays(4, &[3]);
        a[2].1 = Tensor::full(DType::F32, &[5], 0.0);
        let e = Dataset::from_arrays(Path::new("x.npz"), a)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`x.npz`") && e.contains("`rewards` has 5 rows"),
            "{e}"
        );
        let mut a = arrays(4, &[3]);
        a.remove(3);
        let e = Dataset::from_arrays(Path::new("x.npz"), a)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no array `terminations`"), "{e}");
        let mut a = arrays(4, &[3]);
        a[3].1 = Tensor::full(DType::F32, &[4], 0.0);
        let e = Dataset::from_arrays(Path::new("x.npz"), a)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`terminations` is f32, not bool"), "{e}");
        let mut a = arrays(4, &[3]);
        a[0].1 = Tensor::from_f64(
            DType::F64,
            &[4, 3],
            &[0., 0., 0., 0., 0., 0., 0., f64::NAN, 0., 0., 0., 0.],
        );
        let e = Dataset::from_arrays(Path::new("x.npz"), a)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`x.npz`") && e.contains("`observations` holds NaN at row 2"),
            "{e}"
        );
    }

    #[test]
    fn truncations_are_optional_and_read_as_false() {
        let d = Dataset::from_arrays(Path::new("x.npz"), arrays(5, &[1])).unwrap();
        assert_eq!(d.field("truncated").unwrap().dtype(), DType::Bool);
        assert_eq!(d.field("truncated").unwrap().to_f64_vec(), vec![0.0; 5]);
        assert_eq!(d.episode_spans(), vec![(0, 2), (2, 3)]);
    }

    #[test]
    fn concatenation_keeps_episodes_apart() {
        let a = Dataset::from_arrays(Path::new("a"), arrays(3, &[2])).unwrap();
        let b = Dataset::from_arrays(Path::new("b"), arrays(4, &[1, 3])).unwrap();
        let c = Dataset::concat(&[("a".into(), a), ("b".into(), b.clone())]).unwrap();
        assert_eq!(c.rows, 7);
        assert_eq!(c.episode_spans(), vec![(0, 3), (3, 2), (5, 2)]);
        let mut odd = arrays(4, &[3]);
        odd[0].1 = Tensor::full(DType::F32, &[4, 2], 0.0);
        let odd = Dataset::from_arrays(Path::new("odd"), odd).unwrap();
        let e = Dataset::concat(&[("b".into(), b), ("odd".into(), odd)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`observations` has rows of f32 [2]"), "{e}");
    }
}
