//! What of `infer` other programs use: the parsing of `infer serve`'s predict
//! requests, which the fuzz targets (`fuzz/`) exercise.

pub mod request;
