// The model run in the browser: `model.onnx` (the run's network, exported by
// `infer`) in onnxruntime-web's WebAssembly runtime, whose files sit in
// `ort/` beside this page. Nothing is fetched from another origin.
"use strict";

import { PIXELS } from "./preprocess.js";

/// Loads onnxruntime-web and the model; resolves to `probabilities(images)`,
/// which takes an array of 784-pixel images (0-255, row-major) and resolves
/// to one array of 10 probabilities per image.
export async function loadBrowserModel() {
  const base = new URL("./", import.meta.url);
  const ort = await import(new URL("ort/ort.wasm.min.mjs", base).href);
  // One thread: several need cross-origin isolation headers, which a plain
  // static file server does not send.
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = new URL("ort/", base).href;
  const session = await ort.InferenceSession.create(new URL("model.onnx", base).href, {
    executionProviders: ["wasm"],
  });
  const [input] = session.inputNames;
  const [output] = session.outputNames;
  return async function probabilities(images) {
    const x = new Float32Array(images.length * PIXELS);
    images.forEach((pixels, row) => {
      // The network's input, as the Rust batcher makes it: pixel / 255 - 0.5.
      for (let i = 0; i < PIXELS; i++) x[row * PIXELS + i] = pixels[i] / 255 - 0.5;
    });
    const results = await session.run({ [input]: new ort.Tensor("float32", x, [images.length, PIXELS]) });
    const flat = results[output].data;
    const classes = flat.length / images.length;
    return images.map((_, row) => Array.from(flat.subarray(row * classes, (row + 1) * classes)));
  };
}
