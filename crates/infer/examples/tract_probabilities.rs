//! Runs an ONNX file from `infer export --format onnx` in tract on the first
//! COUNT images of an IDX image file; prints one JSON line per image,
//! `{"index": i, "probabilities": [10]}`, as `infer --json` does. Used by
//! `scripts/export/compare.sh`.
//!
//! ```text
//! cargo run --release -p infer --example tract_probabilities -- MODEL.onnx IMAGES_IDX COUNT
//! ```

#[path = "../tests/infer/common/tract.rs"]
mod tract;

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, images, count] = args.as_slice() else {
        return Err("usage: tract_probabilities MODEL.onnx IMAGES_IDX COUNT".into());
    };
    let images = data::idx::read_images(&PathBuf::from(images))?;
    let count: usize = count.parse()?;
    let pixels = &images.pixels[..count.min(images.count) * 784];
    for (index, row) in tract::probabilities(&PathBuf::from(model), pixels)?
        .iter()
        .enumerate()
    {
        println!(
            "{}",
            serde_json::json!({ "index": index, "probabilities": row })
        );
    }
    Ok(())
}
