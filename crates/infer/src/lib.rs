//! What of `infer` other programs use: the parsing of `infer serve`'s predict
//! requests, which the fuzz targets (`fuzz/`) exercise, and the limit on open
//! files that bounds its connections.

pub mod open_files;
pub mod request;
