//! placeholder
pub mod io;
