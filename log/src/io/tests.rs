//! Writer tests, run against both backends.
