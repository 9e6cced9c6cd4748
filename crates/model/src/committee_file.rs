//! A committee on disk: a directory of its own holding `committee.json`,
//! which names the member runs (paths relative to it, so the tree can move)
//! with the network and the size and SHA-256 of the weights each had when
//! the committee was built, and how their probabilities are combined. A
//! member missing, changed since, itself a committee, or of other inputs or
//! classes than the others is refused with one line naming it; nothing is
//! ever read silently from a changed member.

use std::path::{Component, Path, PathBuf};

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::artifact::{FileDigest, ModelError, model_from_bytes, read_saved, saved_weights};
use crate::committee::{Combine, Committee};
use crate::mlp::MlpConfig;

/// The file that makes a directory a committee.
pub const COMMITTEE_FILE: &str = "committee.json";

/// What `committee.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitteeFile {
    pub combine: Combine,
    /// At least one.
    pub members: Vec<Member>,
}

/// One member run, as the committee was built from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// The run directory, relative to the committee's.
    pub run: PathBuf,
    /// Its network, as its `model.json` describes it.
    pub architecture: MlpConfig,
    /// Its `model.bpk`'s size and SHA-256.
    pub weights: FileDigest,
}

/// Why a committee could not be built or read. Each message names the file
/// or the member.
#[derive(Debug, thiserror::Error)]
pub enum CommitteeError {
    #[error("{path} is not a committee: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("a committee needs at least one member run")]
    Empty,
    #[error("member {run}: {reason}")]
    Member { run: PathBuf, reason: String },
    #[error("member {run}: {error}")]
    Model {
        run: PathBuf,
        error: Box<ModelError>,
    },
}

/// Whether `dir` holds a committee rather than a single run.
pub fn is_committee(dir: &Path) -> bool {
    dir.join(COMMITTEE_FILE).is_file()
}

impl CommitteeFile {
    /// For messages: `a committee of 3 (mean of probabilities):
    /// 784-800-800-10 relu x2, 784-800-10 relu` (or `geometric mean of`),
    /// equal networks counted in the order they first appear.
    pub fn describe(&self) -> String {
        let mut networks: Vec<(String, usize)> = Vec::new();
        for member in &self.members {
            let network = member.architecture.describe();
            match networks.iter_mut().find(|(seen, _)| *seen == network) {
                Some((_, count)) => *count += 1,
                None => networks.push((network, 1)),
            }
        }
        let networks: Vec<String> = networks
            .into_iter()
            .map(|(network, count)| match count {
                1 => network,
                _ => format!("{network} x{count}"),
            })
            .collect();
        let combine = match self.combine {
            Combine::Mean => "mean",
            Combine::Geometric => "geometric mean",
        };
        format!(
            "a committee of {} ({combine} of probabilities): {}",
            self.members.len(),
            networks.join(", ")
        )
    }

    /// Each member's network, in order.
    pub fn architectures(&self) -> Vec<MlpConfig> {
        self.members
            .iter()
            .map(|member| member.architecture.clone())
            .collect()
    }

    /// The record of a committee of `runs` (trained runs with a saved model)
    /// combined as `combine`, to be written into `committee_dir` (which need
    /// not exist yet): each run checked whole and of the first's inputs and
    /// classes.
    pub fn of_runs(
        runs: &[PathBuf],
        combine: Combine,
        committee_dir: &Path,
    ) -> Result<Self, CommitteeError> {
        if runs.is_empty() {
            return Err(CommitteeError::Empty);
        }
        let home = absolute(committee_dir).map_err(|error| CommitteeError::File {
            path: committee_dir.to_path_buf(),
            reason: error.to_string(),
        })?;
        let mut members: Vec<Member> = Vec::with_capacity(runs.len());
        for run in runs {
            let member_error = |reason: String| CommitteeError::Member {
                run: run.clone(),
                reason,
            };
            if is_committee(run) {
                return Err(member_error(
                    "is itself a committee; name its member runs instead".into(),
                ));
            }
            let (architecture, weights) =
                saved_weights(run).map_err(|error| CommitteeError::Model {
                    run: run.clone(),
                    error: Box::new(error),
                })?;
            if let Some(first) = members.first() {
                check_same_io(&first.architecture, &architecture).map_err(member_error)?;
            }
            let path = absolute(run).map_err(|error| member_error(error.to_string()))?;
            let path = relative(&path, &home);
            if members.iter().any(|member| member.run == path) {
                return Err(member_error("is named twice".into()));
            }
            members.push(Member {
                run: path,
                architecture,
                weights,
            });
        }
        Ok(Self { combine, members })
    }

    /// Writes it as `committee_dir/committee.json`, atomically.
    pub fn write(&self, committee_dir: &Path) -> Result<(), CommitteeError> {
        let path = committee_dir.join(COMMITTEE_FILE);
        let json = serde_json::to_vec_pretty(self).expect("paths, numbers and names serialise");
        files::write_atomic(&path, &json).map_err(|error| CommitteeError::File {
            path,
            reason: format!("cannot write it: {error}"),
        })
    }

    /// `committee_dir/committee.json`, parsed and checked for members.
    pub fn read(committee_dir: &Path) -> Result<Self, CommitteeError> {
        let path = committee_dir.join(COMMITTEE_FILE);
        let invalid = |reason: String| CommitteeError::File {
            path: path.clone(),
            reason,
        };
        let bytes = std::fs::read(&path).map_err(|error| invalid(error.to_string()))?;
        let file: Self =
            serde_json::from_slice(&bytes).map_err(|error| invalid(error.to_string()))?;
        if file.members.is_empty() {
            return Err(CommitteeError::Empty);
        }
        Ok(file)
    }
}

/// Loads the committee in `committee_dir` onto `device`: every member's
/// weights checked against the digest recorded when the committee was
/// built, and its network against the one recorded.
pub fn load_committee(
    committee_dir: &Path,
    device: &Device,
) -> Result<(Committee, CommitteeFile), CommitteeError> {
    let file = CommitteeFile::read(committee_dir)?;
    let mut members = Vec::with_capacity(file.members.len());
    for member in &file.members {
        let run = committee_dir.join(&member.run);
        let member_error = |reason: String| CommitteeError::Member {
            run: run.clone(),
            reason,
        };
        if is_committee(&run) {
            return Err(member_error("is itself a committee".into()));
        }
        let model_error = |error| CommitteeError::Model {
            run: run.clone(),
            error: Box::new(error),
        };
        let (json, record) = read_saved(&run).map_err(model_error)?;
        let weights = FileDigest::of(&record);
        if weights != member.weights {
            return Err(member_error(format!(
                "its model.bpk changed since the committee was built ({}; found {weights})",
                member.weights
            )));
        }
        let (model, architecture) =
            model_from_bytes(&json, record, &run, device).map_err(model_error)?;
        if architecture != member.architecture {
            return Err(member_error(format!(
                "its model.json describes {}, not the {} the committee was built with",
                architecture.describe(),
                member.architecture.describe()
            )));
        }
        check_same_io(&file.members[0].architecture, &architecture).map_err(member_error)?;
        members.push(model);
    }
    let committee = Committee {
        members,
        combine: file.combine,
    };
    Ok((committee, file))
}

/// Refuses a member of other inputs or classes than `first`.
fn check_same_io(first: &MlpConfig, member: &MlpConfig) -> Result<(), String> {
    if (member.inputs, member.classes) != (first.inputs, first.classes) {
        return Err(format!(
            "reads {} inputs into {} classes, the committee's first member {} into {}",
            member.inputs, member.classes, first.inputs, first.classes
        ));
    }
    Ok(())
}

/// `path` made absolute and free of `.` and `..` without touching the disk
/// (the committee's directory may not exist yet).
fn absolute(path: &Path) -> std::io::Result<PathBuf> {
    let mut clean = PathBuf::new();
    for component in std::path::absolute(path)?.components() {
        match component {
            Component::ParentDir => {
                clean.pop();
            }
            Component::CurDir => {}
            other => clean.push(other),
        }
    }
    Ok(clean)
}

/// `path` relative to `base` (both absolute and clean): `../runs/a`.
fn relative(path: &Path, base: &Path) -> PathBuf {
    let (path, base): (Vec<_>, Vec<_>) = (path.components().collect(), base.components().collect());
    let shared = path.iter().zip(&base).take_while(|(a, b)| a == b).count();
    let mut relative: PathBuf = base[shared..]
        .iter()
        .map(|_| Component::ParentDir)
        .collect();
    relative.extend(&path[shared..]);
    relative
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::save_model;

    /// A saved run of a small network (`hidden`, `inputs` inputs) in `dir`.
    fn saved_run(dir: &Path, hidden: Vec<usize>, inputs: usize) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let config = MlpConfig::new().with_hidden(hidden).with_inputs(inputs);
        let model = config.init(&Device::flex());
        save_model(dir, &config, &model).unwrap();
        dir.to_path_buf()
    }

    #[test]
    fn relative_paths_climb_to_the_shared_ancestor() {
        let cases = [
            ("/a/runs/s1", "/a/committees/c", "../../runs/s1"),
            ("/a/sweep/s1", "/a/sweep/committee", "../s1"),
            ("/a/b", "/a/b/c", ".."),
        ];
        for (path, base, want) in cases {
            assert_eq!(relative(Path::new(path), Path::new(base)), Path::new(want));
        }
        assert_eq!(
            absolute(Path::new("/a/./b/../c")).unwrap(),
            Path::new("/a/c")
        );
    }

    /// Built, written, moved with its members and read back: the same
    /// networks; a member whose weights change is then refused by name.
    #[test]
    fn a_committee_moves_with_its_runs_and_refuses_a_changed_member() {
        let root = tempfile::tempdir().unwrap();
        let sweep = root.path().join("sweep");
        let runs = vec![
            saved_run(&sweep.join("a"), vec![8], 784),
            saved_run(&sweep.join("b"), vec![4, 4], 784),
        ];
        let committee = sweep.join("committee");
        let file = CommitteeFile::of_runs(&runs, Combine::Geometric, &committee).unwrap();
        assert_eq!(file.members[0].run, Path::new("../a"));
        std::fs::create_dir_all(&committee).unwrap();
        file.write(&committee).unwrap();

        let moved = root.path().join("moved");
        std::fs::rename(&sweep, &moved).unwrap();
        let (loaded, read) = load_committee(&moved.join("committee"), &Device::flex()).unwrap();
        assert_eq!(read, file);
        assert_eq!(loaded.members.len(), 2);
        assert_eq!(loaded.combine, Combine::Geometric);

        // b is retrained in place: same network, other weights.
        saved_run(&moved.join("b"), vec![4, 4], 784);
        let error = load_committee(&moved.join("committee"), &Device::flex())
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(&format!(
                "member {}: its model.bpk changed since",
                moved.join("committee/../b").display()
            )),
            "{error}"
        );
    }

    #[test]
    fn bad_members_are_refused_in_one_line_naming_them() {
        let root = tempfile::tempdir().unwrap();
        let a = saved_run(&root.path().join("a"), vec![8], 784);
        let wide = saved_run(&root.path().join("wide"), vec![8], 100);
        let out = root.path().join("c");
        let missing = root.path().join("missing");
        let nested = root.path().join("nested");
        std::fs::create_dir_all(&nested).unwrap();
        CommitteeFile::of_runs(std::slice::from_ref(&a), Combine::Mean, &out)
            .unwrap()
            .write(&nested)
            .unwrap();
        let cases: Vec<(Vec<PathBuf>, String)> = vec![
            (vec![], "a committee needs at least one member run".into()),
            (
                vec![a.clone(), missing.clone()],
                format!(
                    "member {}: cannot read {}",
                    missing.display(),
                    missing.join("model.json").display()
                ),
            ),
            (
                vec![a.clone(), nested.clone()],
                format!("member {}: is itself a committee", nested.display()),
            ),
            (
                vec![a.clone(), a.clone()],
                format!("member {}: is named twice", a.display()),
            ),
            (
                vec![a.clone(), wide.clone()],
                format!(
                    "member {}: reads 100 inputs into 10 classes, the committee's first member 784 into 10",
                    wide.display()
                ),
            ),
        ];
        for (runs, want) in cases {
            let error = CommitteeFile::of_runs(&runs, Combine::Mean, &out)
                .unwrap_err()
                .to_string();
            assert!(error.starts_with(&want), "{error}\nwant {want}");
            assert!(!error.contains('\n'), "{error}");
        }
        assert!(!out.exists(), "nothing is written on a refusal");

        // committee.json itself: not JSON, or no members.
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join(COMMITTEE_FILE), "{").unwrap();
        let error = load_committee(&out, &Device::flex())
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(&format!(
                "{} is not a committee: ",
                out.join(COMMITTEE_FILE).display()
            )),
            "{error}"
        );
        std::fs::write(
            out.join(COMMITTEE_FILE),
            r#"{"combine":"mean","members":[]}"#,
        )
        .unwrap();
        let error = load_committee(&out, &Device::flex())
            .unwrap_err()
            .to_string();
        assert_eq!(error, "a committee needs at least one member run");
    }
}
