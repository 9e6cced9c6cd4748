//! `train --config`: TOML text to a validated config, or a one-line error
//! naming the file and the field.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use config::TrainConfig;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    match TrainConfig::parse(text, Path::new("fuzz.toml")) {
        // What parses must write back and parse again to the same config.
        Ok(config) => {
            let again = TrainConfig::parse(&config.to_toml(), Path::new("again.toml"))
                .expect("a parsed config's TOML parses");
            assert_eq!(again.to_toml(), config.to_toml());
        }
        // Errors are one line.
        Err(error) => assert!(!error.to_string().contains('\n'), "{error}"),
    }
});
