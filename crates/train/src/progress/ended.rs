//! Why training ended early, as seen while it ran: Burn's dashboard clears
//! its stop request when training ends, so it is noted just before.

use std::sync::{Arc, Mutex};

use burn::train::Interrupter;

/// How training was stopped, if it was.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EndReasons {
    /// The stop request's reason (the dashboard's stop key, early stopping),
    /// `Some("")` when it gave none.
    pub interruption: Option<String>,
    /// The error training failed on (a checkpoint that could not be written).
    pub error: Option<String>,
}

/// Reads the interrupter's state into shared [`EndReasons`] when told.
pub struct EndWatch {
    interrupter: Interrupter,
    reasons: Arc<Mutex<EndReasons>>,
}

impl EndWatch {
    /// Watches `interrupter`; returns the reasons it will fill in.
    pub fn new(interrupter: Interrupter) -> (Self, Arc<Mutex<EndReasons>>) {
        let reasons = Arc::new(Mutex::new(EndReasons::default()));
        let watch = Self {
            interrupter,
            reasons: Arc::clone(&reasons),
        };
        (watch, reasons)
    }

    /// Notes the interrupter's stop request and error, if any.
    pub fn note(&self) {
        let mut reasons = self.reasons.lock().expect("end reasons lock");
        if let Some(interruption) = self.interrupter.interruption() {
            reasons.interruption = Some(interruption.reason.unwrap_or_default());
        }
        if let Some(error) = self.interrupter.error() {
            reasons.error = Some(error.to_string());
        }
    }
}
