//! The one error type of this crate: every message is a single line that
//! names what is wrong with the input (or which drawing step failed).

use console::one_line;
use thiserror::Error;

/// Why a chart could not be drawn.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlotError {
    /// `training_curves` got no epochs.
    #[error("no epochs to plot")]
    NoEpochs,
    /// `sweep_chart` got no runs.
    #[error("no runs to plot")]
    NoRuns,
    /// The confusion matrix has no rows.
    #[error("confusion matrix is empty")]
    EmptyConfusion,
    /// A confusion matrix row does not have as many columns as there are rows.
    #[error("confusion matrix must be square, got {rows}x{cols}")]
    NotSquare { rows: usize, cols: usize },
    /// Any other invalid input; the message names the value and where it is.
    #[error("{0}")]
    InvalidInput(String),
    /// The embedded font could not be loaded.
    #[error("the embedded DejaVu Sans font could not be loaded")]
    Font,
    /// Plotters failed while drawing (stringified to one line).
    #[error("plotting backend: {0}")]
    Backend(String),
    /// The finished picture could not be encoded as PNG.
    #[error("PNG encoding: {0}")]
    Encode(String),
}

impl PlotError {
    /// An [`PlotError::InvalidInput`] whose message is forced onto one line.
    pub(crate) fn invalid(message: impl AsRef<str>) -> Self {
        Self::InvalidInput(one_line(message.as_ref()))
    }
}

impl<E: std::error::Error + Send + Sync> From<plotters::drawing::DrawingAreaErrorKind<E>>
    for PlotError
{
    fn from(error: plotters::drawing::DrawingAreaErrorKind<E>) -> Self {
        Self::Backend(one_line(&error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line() {
        let error = PlotError::invalid("run \"a\nb\" is bad");
        assert_eq!(error.to_string(), "run \"a\\nb\" is bad");
        assert_eq!(
            PlotError::NotSquare { rows: 10, cols: 9 }.to_string(),
            "confusion matrix must be square, got 10x9"
        );
    }
}
