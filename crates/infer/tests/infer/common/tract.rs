//! An exported ONNX file run by tract (shared by the export test and the
//! `tract_probabilities` example behind `scripts/export/compare.sh`).

use std::path::Path;

use tract_onnx::prelude::*;

/// The ONNX model at `path` run by tract on `images` (`u8` pixels, 784 per
/// image, fed as `pixel / 255 - 0.5`): one row of probabilities per image.
pub fn probabilities(path: &Path, images: &[u8]) -> TractResult<Vec<Vec<f32>>> {
    let count = images.len() / 784;
    let x: Vec<f32> = images.iter().map(|&p| f32::from(p) / 255.0 - 0.5).collect();
    let plan = tract_onnx::onnx()
        .model_for_path(path)?
        .into_optimized()?
        .into_runnable()?;
    let output = plan.run(tvec!(Tensor::from_shape(&[count, 784], &x)?.into_tvalue()))?;
    let view = output[0].to_plain_array_view::<f32>()?;
    let classes = view.shape()[1];
    let flat: Vec<f32> = view.iter().copied().collect();
    Ok(flat.chunks(classes).map(<[f32]>::to_vec).collect())
}
