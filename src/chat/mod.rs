//! The chat application, written once above the [`crate::transport::Transport`] trait:
//! the [`room`] (one task owning every member), the `server` that feeds it from the
//! transports it is given, and the [`client`] (binary, or text lines as a fallback).

pub mod client;
pub mod room;
mod roster;
mod server;

#[cfg(test)]
mod tests;

pub use server::{Server, ServerConfig, Source};
