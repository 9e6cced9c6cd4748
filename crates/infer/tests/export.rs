//! `infer export` read back without Burn: scripts/export/check.py rebuilds the
//! network in NumPy from the SafeTensors file alone and must reproduce the
//! probabilities `infer --json` prints for 1,000 test images within 1e-5.
//! `scripts/test.sh` makes its Python environment (scripts/export/install.sh);
//! without it the test is skipped, except under CI=true, where it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::TestRun;

fn infer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_infer"))
        .args(args)
        .output()
        .unwrap()
}

fn venv_python() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    let python = Path::new(&home).join(".cache/simple-nn/export-venv/bin/python");
    python.exists().then_some(python)
}

#[test]
fn numpy_reproduces_the_probabilities_from_the_exported_file() {
    let Some(python) = venv_python() else {
        let message = "no export-venv: run scripts/export/install.sh";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
        eprintln!("skipped: {message}");
        return;
    };
    let run = TestRun::with_test_images(1000);
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("model.safetensors");
    let run_dir = run.dir();
    let exported = infer(&[
        "export",
        "--run",
        run_dir.to_str().unwrap(),
        "--out",
        file.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&exported.stdout);
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    assert!(
        stdout.starts_with(&format!(
            "wrote {} (784-64-64-10 relu, 55050 parameters)",
            file.display()
        )),
        "{stdout}"
    );

    let data_dir = run.data_dir();
    let predicted = infer(&[
        "--run",
        run_dir.to_str().unwrap(),
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--index",
        "0",
        "--count",
        "1000",
        "--json",
    ]);
    assert!(
        predicted.status.success(),
        "{}",
        String::from_utf8_lossy(&predicted.stderr)
    );
    let jsonl = out.path().join("ours.jsonl");
    std::fs::write(&jsonl, &predicted.stdout).unwrap();

    let check = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/export/check.py"))
        .arg(&file)
        .arg(data_dir.join("t10k-images-idx3-ubyte"))
        .arg(&jsonl)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(report.trim()).unwrap();
    assert_eq!(report["images"], 1000);
    assert!(
        report["max_abs_difference"].as_f64().unwrap() <= 1e-5,
        "{report}"
    );
    assert_eq!(
        report["architecture"]["hidden"],
        serde_json::json!([64, 64])
    );
    eprintln!("export check: {report}");
}

#[test]
fn export_errors_are_one_line_and_leave_no_file() {
    let run = TestRun::new();
    let out = tempfile::tempdir().unwrap();
    let missing_dir = out.path().join("no/such/dir/model.safetensors");
    let run_dir = run.dir();
    let output = infer(&[
        "export",
        "--run",
        run_dir.to_str().unwrap(),
        "--out",
        missing_dir.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!("error: cannot write {}: ", missing_dir.display())),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let output = infer(&[
        "export",
        "--run",
        out.path().to_str().unwrap(),
        "--out",
        "x.safetensors",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("model.json"), "{stderr}");
    assert!(!Path::new("x.safetensors").exists());
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        0,
        "nothing written"
    );
}
