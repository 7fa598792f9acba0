//! Sweeps: one profile run over a range of values of one field, and the breakpoints found
//! on the measured curves.

pub mod knee;
pub mod points;
pub mod values;
