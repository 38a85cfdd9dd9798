//! Tailing files matched by globs.

mod config;

pub use config::FileSourceConfig;
