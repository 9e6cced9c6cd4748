//! `train --config`: TOML text to a validated config, or an error naming the
//! file and the field.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use train::config::TrainConfig;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes)
        && let Ok(config) = TrainConfig::parse(text, Path::new("fuzz.toml"))
    {
        // What parses must write back and parse again to the same config.
        let again = TrainConfig::parse(&config.to_toml(), Path::new("again.toml"))
            .expect("a parsed config's TOML parses");
        assert_eq!(again.to_toml(), config.to_toml());
    }
});
