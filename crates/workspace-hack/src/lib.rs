//! Empty on purpose: this crate's `Cargo.toml` pins the features that the
//! tests' tract-onnx would otherwise add to crates Burn is built on, so that
//! `cargo build` and `cargo test` build Burn once. See that file.
