//! What every binary of the workspace says on the terminal goes through here:
//! lines printed with [`outln!`] and [`errln!`], which a closed pipe cannot
//! turn into a panic ([`pipe`]), and error text made to fit one line
//! ([`one_line`]).

mod one_line;
pub mod pipe;

pub use one_line::one_line;
pub use pipe::{Console, stderr, stdout};
