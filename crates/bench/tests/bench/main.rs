//! The `bench` crate's integration tests (one test binary per crate).

mod bench_binary;
