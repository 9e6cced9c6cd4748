//! Reading digits with a trained run's model, as a library: each command of
//! the `infer` binary is a function here taking one options struct (its
//! `main.rs` only reads flags and calls it).
//!
//! ```text
//! api_error   the HTTP API's one error type: its statuses, codes and log; no Burn
//! request     parsing predict requests (JSON pixels, image bodies, multipart); no Burn
//! prediction  the network's answer for one image, shared by every output; no Burn
//! open_files  the limit on open files that bounds the server's connections; no Burn
//! loaded      which run (or committee) to read, and its model loaded onto a device
//! predict     answers for test digits and for raw 28x28 images
//! committee   `infer committee`: several runs read together, evaluated and kept
//! held_out    the training images a committee's runs all held out; --choose on them
//! digits      `infer`: test digits, the whole test set, or image files; `infer plot`
//! images      `infer --image`: image files of handwritten digits
//! export      `infer export`: SafeTensors, ONNX or a static site for other tools
//! page        the drawing page's files and page.json, shared by serve and export
//! ort_web     onnxruntime-web's files, from its npm package, cached
//! serve/      `infer serve`: the HTTP server, its routes and its connection limits
//! staging     a directory written under a scratch name and renamed into place
//! ```
//!
//! Everything that loads a model is behind the `model` feature (on by
//! default); the fuzz targets build the rest without Burn.

pub mod api_error;
pub mod open_files;
pub mod prediction;
pub mod request;

#[cfg(feature = "model")]
pub mod committee;
#[cfg(feature = "model")]
pub mod digits;
#[cfg(feature = "model")]
pub mod export;
#[cfg(feature = "model")]
pub mod held_out;
#[cfg(feature = "model")]
pub mod images;
#[cfg(feature = "model")]
pub mod loaded;
#[cfg(feature = "model")]
pub mod ort_web;
#[cfg(feature = "model")]
pub mod page;
#[cfg(feature = "model")]
pub mod predict;
#[cfg(feature = "model")]
pub mod serve;
#[cfg(feature = "model")]
pub mod staging;
