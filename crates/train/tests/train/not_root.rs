//! File permissions, tried as the unprivileged user `nobody`: the tests run as
//! root, who may read and write anything. A read-only artifacts directory (and
//! run directory), an unreadable data directory and an unwritable export path
//! each give a one-line error naming the path, and nothing is left
//! half-written.
//!
//! Skipped, with the reason printed, where no other user can be switched to
//! (not root, no `setpriv` or `runuser`, no user `nobody`); once the switch is
//! possible, any failure is a failure, under CI or not.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::*;

/// The command words that run a program as `nobody`, or why there are none.
fn as_nobody() -> Result<Vec<OsString>, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not running as root: no other user can be switched to".into());
    }
    let id = |flag: &str| {
        let output = Command::new("id").args([flag, "nobody"]).output().ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
    };
    let (Some(uid), Some(gid)) = (id("-u"), id("-g")) else {
        return Err("there is no user `nobody`".into());
    };
    let installed = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    let words: Vec<String> = if installed("setpriv") {
        vec![
            "setpriv".into(),
            format!("--reuid={uid}"),
            format!("--regid={gid}"),
            "--clear-groups".into(),
            "--".into(),
        ]
    } else if installed("runuser") {
        ["runuser", "-u", "nobody", "--"].map(String::from).to_vec()
    } else {
        return Err("neither setpriv nor runuser is installed".into());
    };
    Ok(words.into_iter().map(OsString::from).collect())
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Runs programs as `nobody` in a directory it may enter.
struct Nobody {
    prefix: Vec<OsString>,
    cwd: PathBuf,
    /// `train` and `infer`, where `nobody` may run them.
    train: PathBuf,
    infer: PathBuf,
}

impl Nobody {
    fn run(&self, program: &Path, args: &[&str]) -> Output {
        Command::new(&self.prefix[0])
            .args(&self.prefix[1..])
            .arg(program)
            .args(args)
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// The binaries where they are, or copies in `root` when a directory
    /// above them is closed to other users.
    fn new(prefix: Vec<OsString>, root: &Path) -> Self {
        let mut nobody = Self {
            prefix,
            cwd: root.to_path_buf(),
            train: train_bin(),
            infer: infer_bin(),
        };
        if !nobody.run(&nobody.train, &["--version"]).status.success() {
            let bin = root.join("bin");
            std::fs::create_dir(&bin).unwrap();
            for program in [&mut nobody.train, &mut nobody.infer] {
                let copy = bin.join(program.file_name().unwrap());
                std::fs::copy(&*program, &copy).unwrap();
                *program = copy;
            }
        }
        let version = nobody.run(&nobody.train, &["--version"]);
        assert!(
            version.status.success(),
            "nobody cannot run train: {version:?}"
        );
        nobody
    }
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn as_an_unprivileged_user_permission_errors_name_the_path_and_write_nothing() {
    let prefix = match as_nobody() {
        Ok(prefix) => prefix,
        Err(reason) => {
            println!("skipped: {reason}");
            return;
        }
    };
    let root = tempfile::tempdir().unwrap();
    set_mode(root.path(), 0o755);
    let nobody = Nobody::new(prefix, root.path());
    let dir = |name: &str, mode: u32| {
        let path = root.path().join(name);
        std::fs::create_dir(&path).unwrap();
        set_mode(&path, mode);
        path
    };
    let data = dir("data", 0o755);
    data::synthetic::write_learnable(&data, 64, 20).unwrap();
    let locked = dir("locked-data", 0o755);
    data::synthetic::write_learnable(&locked, 64, 20).unwrap();
    set_mode(&locked, 0o700);
    // Root's, so read-only to nobody.
    let read_only = dir("read-only", 0o755);
    let open = dir("open", 0o777);
    let run = dir("run", 0o755);
    let config = model::MlpConfig::new();
    model::save_model(&run, &config, &config.init(&burn::tensor::Device::flex())).unwrap();
    let epoch = run::EpochMetrics {
        epoch: 1,
        seconds: 0.5,
        train_loss: 2.0,
        train_accuracy: 0.2,
        valid_loss: 1.9,
        valid_accuracy: 0.25,
        grad_norms: vec![],
    };
    run::EpochMetrics::write_csv(&run::RunDir::open(&run).unwrap(), &[epoch]).unwrap();
    std::fs::remove_file(run.join(run::LOCK_FILE)).unwrap();
    let path = |path: &Path| path.to_str().unwrap().to_string();

    // A read-only artifacts directory: the run directory cannot be claimed.
    let train = |data: &Path, artifacts: &Path| {
        nobody.run(
            &nobody.train,
            &[&run_args(data, artifacts, "mine")[..], &["--epochs", "1"]].concat(),
        )
    };
    let error = assert_one_line_error(&train(&data, &read_only));
    assert!(
        error.contains(&format!("{}/mine", path(&read_only)))
            && error.contains("Permission denied"),
        "{error}"
    );

    // An unreadable data directory: said so, before any run directory exists.
    let error = assert_one_line_error(&train(&locked, &open));
    assert!(
        error.contains(&format!(
            "{}: could not list the directory: ",
            path(&locked)
        )) && error.contains("Permission denied"),
        "{error}"
    );
    assert_eq!(entries(&open), Vec::<String>::new());
    let error = assert_one_line_error(&nobody.run(
        &nobody.infer,
        &["--run", &path(&run), "--data-dir", &path(&locked)],
    ));
    assert!(error.contains(&path(&locked)), "{error}");

    // An export path in a directory nobody may write to.
    let out = read_only.join("model.safetensors");
    let error = assert_one_line_error(&nobody.run(
        &nobody.infer,
        &["export", "--run", &path(&run), "--out", &path(&out)],
    ));
    assert!(
        error.contains(&path(&out)) && error.contains("Permission denied"),
        "{error}"
    );
    assert_eq!(entries(&read_only), Vec::<String>::new());

    // A run directory nobody may write to: its pictures cannot be redrawn.
    let error = assert_one_line_error(&nobody.run(
        &nobody.infer,
        &["plot", "--run", &path(&run), "--data-dir", &path(&data)],
    ));
    assert!(
        error.contains(&format!("{}/plots", path(&run))) && error.contains("Permission denied"),
        "{error}"
    );
    assert_eq!(entries(&run).len(), 3, "{:?}", entries(&run));

    // Where it may read and write, the same user trains and exports: the
    // errors above come from the permissions alone.
    assert_success(&train(&data, &open));
    let exported = open.join("model.safetensors");
    let export = [
        "export",
        "--run",
        &path(&open.join("mine")),
        "--out",
        &path(&exported),
    ];
    assert_success(&nobody.run(&nobody.infer, &export));
    assert!(exported.is_file());
}
