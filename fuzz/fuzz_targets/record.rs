//! `infer --run` and `train --resume`: a run's model.json and model.bpk to a
//! network, or a one-line error naming the file. The input is model.json, a zero
//! byte, then model.bpk; each is read as given and with model.json's digest of
//! the weights made to match them.
#![no_main]

use std::path::Path;

use burn::tensor::Device;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let split = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let (json, record) = (&bytes[..split], bytes.get(split + 1..).unwrap_or_default());
    let read = |json: &[u8]| {
        let _ = model::artifact::model_from_bytes(
            json,
            record.to_vec(),
            Path::new("run"),
            &Device::flex(),
        );
    };
    read(json);
    // Again with the weights' digest matching, so that damage to model.bpk
    // reaches the record reader behind the checksum.
    if let Some(matching) = model::artifact::with_digest_of(json, record) {
        read(&matching);
    }
});
