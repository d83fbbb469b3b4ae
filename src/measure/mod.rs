//! Measurement helpers shared by the applications and the bench: latency percentiles
//! from hdrhistogram ([`latency`]) and per-sender sequence tracking ([`seq`]).

pub(crate) mod latency;
pub(crate) mod seq;
