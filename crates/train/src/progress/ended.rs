//! Why training ended early, as seen while it ran: Burn's dashboard clears
//! its stop request when training ends, so it is noted just before.

use std::fmt;
use std::sync::{Arc, Mutex};

use burn::train::Interrupter;

/// The reason Burn's dashboard gives when its stop key is pressed.
const DASHBOARD_STOP: &str = "Stopping training from user input.";

/// Why training ended before its last epoch, when no signal stopped it.
#[derive(Clone, Debug, PartialEq)]
pub enum EarlyStop {
    /// The dashboard's stop key.
    Dashboard,
    /// Early stopping: the validation loss did not improve for `patience` epochs.
    NoImprovement { patience: usize },
    /// A stop request with another reason, as given.
    Requested(String),
}

impl EarlyStop {
    /// What a stop request's `reason` means (none, or Burn's dashboard text,
    /// is the dashboard's stop key).
    fn of_request(reason: Option<String>) -> Self {
        match reason.as_deref() {
            None | Some("" | DASHBOARD_STOP) => Self::Dashboard,
            Some(_) => Self::Requested(reason.unwrap_or_default()),
        }
    }
}

impl fmt::Display for EarlyStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dashboard => write!(f, "stopped from the dashboard"),
            Self::NoImprovement { patience } => write!(
                f,
                "early stopping: the validation loss has not improved for {patience} epochs"
            ),
            Self::Requested(reason) => write!(f, "{reason}"),
        }
    }
}

/// How training was stopped, if it was.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EndReasons {
    /// The stop request, if one came (the dashboard's stop key); early
    /// stopping ends training without one.
    pub interruption: Option<EarlyStop>,
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
            reasons.interruption = Some(EarlyStop::of_request(interruption.reason));
        }
        if let Some(error) = self.interrupter.error() {
            reasons.error = Some(error.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_requests_become_reasons_with_the_run_s_wording() {
        for reason in [None, Some(""), Some(DASHBOARD_STOP)] {
            let stop = EarlyStop::of_request(reason.map(String::from));
            assert_eq!(stop, EarlyStop::Dashboard);
            assert_eq!(stop.to_string(), "stopped from the dashboard");
        }
        let other = EarlyStop::of_request(Some("out of time".into()));
        assert_eq!(other.to_string(), "out of time");
        assert_eq!(
            EarlyStop::NoImprovement { patience: 3 }.to_string(),
            "early stopping: the validation loss has not improved for 3 epochs"
        );
    }
}
