//! What a sweep runs and what it reports: the grid of overrides expanded into
//! runs ([`parse_grid`], [`jobs`]), the runs themselves, here ([`runner`]) or
//! as a Slurm job array ([`submit`], [`slurm`], [`follow`], [`task`], with
//! the sweep's [`plan`] on disk), and the comparison table of their results
//! ([`run::sweep_summary`]).

mod follow;
mod plan;
mod runner;
mod slurm;
mod submit;
mod task;

pub use follow::status;
pub use plan::SlurmOptions;
pub use run::sweep_summary::{Row, read_summary};
pub use runner::{SweepOptions, Swept, sweep};
pub use submit::{SlurmSubmit, resume, submit};
pub use task::task;

/// One run of a sweep: a config file (or none: the tutorial's), the `--set`
/// assignments of its grid point, and its run name.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Job {
    pub config: Option<std::path::PathBuf>,
    pub set: Vec<String>,
    pub name: String,
}

/// Splits `KEY=V1,V2,...` into the key and its values; commas inside `[...]`
/// belong to the value (`model.hidden=[64,64],[128]`).
pub fn parse_grid(axis: &str) -> Result<(String, Vec<String>), String> {
    let (key, values) = axis
        .split_once('=')
        .filter(|(key, values)| !key.trim().is_empty() && !values.trim().is_empty())
        .ok_or_else(|| {
            format!(
                "--grid {axis}: expected KEY=V1,V2,... e.g. optimizer.learning_rate=0.001,0.005"
            )
        })?;
    let (mut parts, mut depth, mut current) = (Vec::new(), 0i32, String::new());
    for c in values.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current).trim().to_string());
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current.trim().to_string());
    if parts.iter().any(String::is_empty) {
        return Err(format!("--grid {axis}: empty value"));
    }
    Ok((key.trim().to_string(), parts))
}

/// Every config crossed with every point of the grid, named
/// `<config stem>[_<key>-<value>...]` (characters a run name cannot hold
/// become `-`).
pub fn jobs(configs: &[std::path::PathBuf], grid: &[(String, Vec<String>)]) -> Vec<Job> {
    let configs: Vec<Option<std::path::PathBuf>> = if configs.is_empty() {
        vec![None]
    } else {
        configs.iter().cloned().map(Some).collect()
    };
    let mut points: Vec<Vec<(String, String)>> = vec![vec![]];
    for (key, values) in grid {
        points = points
            .into_iter()
            .flat_map(|point| {
                values.iter().map(move |value| {
                    let mut point = point.clone();
                    point.push((key.clone(), value.clone()));
                    point
                })
            })
            .collect();
    }
    let mut jobs = Vec::new();
    for config in &configs {
        let stem = config
            .as_ref()
            .and_then(|path| path.file_stem())
            .map_or("default".to_string(), |stem| {
                stem.to_string_lossy().into_owned()
            });
        for point in &points {
            let mut name = stem.clone();
            for (key, value) in point {
                let short = key.rsplit('.').next().unwrap_or(key);
                name += &format!("_{short}-{value}");
            }
            let name: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._-".contains(c) {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            jobs.push(Job {
                config: config.clone(),
                set: point.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                name,
            });
        }
    }
    jobs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grid_is_the_product_of_its_axes() {
        let lr = parse_grid("optimizer.learning_rate=0.001,0.005").unwrap();
        let hidden = parse_grid("model.hidden=[64,64], [128]").unwrap();
        assert_eq!(hidden.1, vec!["[64,64]", "[128]"]);
        let jobs = jobs(&["configs/deeper.toml".into()], &[lr, hidden]);
        let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "deeper_learning_rate-0.001_hidden--64-64-",
                "deeper_learning_rate-0.001_hidden--128-",
                "deeper_learning_rate-0.005_hidden--64-64-",
                "deeper_learning_rate-0.005_hidden--128-",
            ]
        );
        assert_eq!(
            jobs[1].set,
            ["optimizer.learning_rate=0.001", "model.hidden=[128]"]
        );
        let plain = super::jobs(&[], &[]);
        assert_eq!(plain[0].name, "default");
        assert_eq!(plain[0].config, None);
    }

    #[test]
    fn bad_grids_say_what_is_expected() {
        assert!(
            parse_grid("epochs")
                .unwrap_err()
                .contains("expected KEY=V1,V2")
        );
        assert_eq!(
            parse_grid("epochs=1,,2").unwrap_err(),
            "--grid epochs=1,,2: empty value"
        );
    }
}
