//! A sweep as one Slurm job array, as Slurm sees it: the job script (written
//! into the sweep directory, one array task per run, each running `sweep task
//! DIR INDEX`), `sbatch` to submit it and `squeue` to see its tasks. Slurm
//! places, queues and requeues; this module only asks. What is submitted when
//! is [`super::submit`]'s.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use super::plan::Plan;

/// The job script's file in the sweep directory.
pub const SCRIPT_FILE: &str = "sweep.sbatch";
/// The directory of each task's Slurm output (`task-<index>.out`) and state
/// (`task-<index>.json`).
pub const TASKS_DIR: &str = "slurm";

/// `path` as an absolute path that an `#SBATCH` line can hold (no white
/// space or quotes: Slurm splits those lines itself).
pub(super) fn sbatch_path(path: &Path, what: &str) -> anyhow::Result<PathBuf> {
    let absolute = std::path::absolute(path)
        .with_context(|| format!("cannot make {} absolute", path.display()))?;
    let text = absolute.to_string_lossy();
    if text.contains(|c: char| c.is_whitespace() || "\"'\\".contains(c)) {
        bail!(
            "{what} {}: a path for a Slurm job cannot hold spaces or quotes",
            console::one_line(&text)
        );
    }
    Ok(absolute)
}

/// `text` quoted for the shell.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The array option's value: `indices` (`0-3` or `1,3`) and at most
/// `max_running` at once.
pub(super) fn array_spec(indices: &[usize], max_running: u32) -> String {
    let list = match indices {
        [first, .., last] if last - first + 1 == indices.len() => format!("{first}-{last}"),
        _ => indices
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(","),
    };
    format!("{list}%{max_running}")
}

/// The job script for `plan` in the sweep directory `dir`, run from `cwd`:
/// an array over every run; each task execs `sweep task DIR INDEX`.
pub fn script(plan: &Plan, dir: &Path, sweep: &Path, cwd: &Path) -> String {
    let slurm = &plan.slurm;
    let all: Vec<usize> = (0..plan.jobs.len()).collect();
    let mut lines = vec![
        "#!/bin/bash".to_string(),
        format!(
            "# simple-nn sweep {}: {} runs as one Slurm job array, written by `sweep --slurm`.",
            plan.name,
            plan.jobs.len()
        ),
        format!(
            "# Task i trains run i of {}/sweep.json into this directory (resuming it if it",
            dir.display()
        ),
        "# has a checkpoint); on Slurm's warning (USR1) it stops with a checkpoint and".into(),
        "# requeues itself. Follow: sweep status DIR; go on after scancel: sweep resume DIR."
            .into(),
        format!("#SBATCH --job-name={}", plan.name),
        format!("#SBATCH --array={}", array_spec(&all, plan.max_running)),
        format!("#SBATCH --output={}/{TASKS_DIR}/task-%a.out", dir.display()),
        "#SBATCH --open-mode=append".into(),
        format!("#SBATCH --chdir={}", cwd.display()),
        "#SBATCH --requeue".into(),
        format!("#SBATCH --signal=B:USR1@{}", slurm.warning_seconds),
    ];
    let optional = [
        ("partition", slurm.partition.clone()),
        ("time", slurm.time.clone()),
        ("cpus-per-task", slurm.cpus_per_task.map(|n| n.to_string())),
        ("mem", slurm.mem.clone()),
        ("gpus-per-task", slurm.gpus_per_task.clone()),
    ];
    for (flag, value) in optional {
        if let Some(value) = value {
            lines.push(format!("#SBATCH --{flag}={value}"));
        }
    }
    for arg in &slurm.sbatch_args {
        lines.push(format!("#SBATCH {arg}"));
    }
    lines.push(format!(
        "exec {} task {} \"$SLURM_ARRAY_TASK_ID\"",
        shell_quote(&sweep.to_string_lossy()),
        shell_quote(&dir.to_string_lossy())
    ));
    lines.join("\n") + "\n"
}

/// A Slurm command's one-line error: `program` missing, or what it said.
fn run_slurm(program: &str, args: &[String]) -> anyhow::Result<String> {
    let output = match Command::new(program).args(args).output() {
        Ok(output) => output,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => bail!(
            "cannot run {program}: it is not on PATH (run the sweep where Slurm's commands are \
             installed, such as the cluster's login node)"
        ),
        Err(error) => return Err(error).with_context(|| format!("cannot run {program}")),
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let said = stderr
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .unwrap_or("no message");
        let said = said
            .trim()
            .trim_start_matches(&format!("{program}: error: "))
            .trim_start_matches(&format!("{program}: "));
        bail!(
            "{program} refused ({}): {}",
            output.status,
            console::one_line(said)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Submits `script`, for the array tasks `array` when given (the script's
/// own `--array` otherwise); returns the job id.
pub(super) fn sbatch(script: &Path, array: Option<String>) -> anyhow::Result<String> {
    let mut args = vec!["--parsable".to_string()];
    args.extend(array.map(|spec| format!("--array={spec}")));
    args.push(script.to_string_lossy().into_owned());
    let out = run_slurm("sbatch", &args)?;
    let id = out.trim().split(';').next().unwrap_or("");
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        bail!(
            "sbatch answered {:?}, not a job id",
            console::one_line(out.trim())
        );
    }
    Ok(id.to_string())
}

/// The queue's array tasks of this user: (array job id, task index) to
/// Slurm's short state (`PD`, `R`, `CG`...).
pub fn queued_tasks() -> anyhow::Result<HashMap<(String, usize), String>> {
    let out = run_slurm(
        "squeue",
        &["--me", "-h", "-r", "-o", "%F %K %t"].map(String::from),
    )?;
    Ok(out
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (job, task, state) = (fields.next()?, fields.next()?, fields.next()?);
            Some(((job.to_string(), task.parse().ok()?), state.to_string()))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::SlurmOptions;

    #[test]
    fn arrays_are_ranges_or_lists_with_their_cap() {
        assert_eq!(array_spec(&[0, 1, 2, 3], 2), "0-3%2");
        assert_eq!(array_spec(&[1, 3], 4), "1,3%4");
        assert_eq!(array_spec(&[5], 1), "5%1");
    }

    #[test]
    fn the_script_asks_for_what_the_flags_say() {
        let plan = Plan {
            name: "seeds".into(),
            jobs: super::super::jobs(&[], &[("seed".into(), vec!["1".into(), "2".into()])]),
            set: vec![],
            data_dir: None,
            train: "/opt/nn/train".into(),
            max_running: 2,
            slurm: SlurmOptions {
                partition: Some("gpu".into()),
                time: Some("01:00:00".into()),
                cpus_per_task: Some(4),
                mem: None,
                gpus_per_task: Some("1".into()),
                warning_seconds: 90,
                sbatch_args: vec!["--qos=long".into()],
            },
            submitted: vec![],
        };
        let text = script(
            &plan,
            Path::new("/shared/sweeps/seeds"),
            Path::new("/opt/nn/sweep"),
            Path::new("/home/me"),
        );
        for line in [
            "#SBATCH --array=0-1%2",
            "#SBATCH --output=/shared/sweeps/seeds/slurm/task-%a.out",
            "#SBATCH --requeue",
            "#SBATCH --signal=B:USR1@90",
            "#SBATCH --partition=gpu",
            "#SBATCH --time=01:00:00",
            "#SBATCH --cpus-per-task=4",
            "#SBATCH --gpus-per-task=1",
            "#SBATCH --qos=long",
            "exec '/opt/nn/sweep' task '/shared/sweeps/seeds' \"$SLURM_ARRAY_TASK_ID\"",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(!text.contains("--mem"), "{text}");
        assert!(text.starts_with("#!/bin/bash\n"));
    }

    #[test]
    fn paths_with_spaces_cannot_go_into_a_job() {
        let error = sbatch_path(Path::new("/tmp/my runs"), "sweep directory").unwrap_err();
        assert_eq!(
            error.to_string(),
            "sweep directory /tmp/my runs: a path for a Slurm job cannot hold spaces or quotes"
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
