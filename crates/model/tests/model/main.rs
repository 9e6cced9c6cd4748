//! The `model` crate's integration tests: one test binary, so Burn is linked
//! into one test executable (each module was a binary of its own).

mod backends;
mod denormals;
mod record_corpus;
