//! The progress callback of long operations (runs, tile pyramids): the fraction done and a
//! message; returning false cancels.

/// Progress: fraction done and a message; return false to cancel.
pub type Progress<'a> = &'a mut dyn FnMut(f64, &str) -> bool;
