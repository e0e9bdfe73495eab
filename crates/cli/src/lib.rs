//! The `coffer` command: configuration, wiring, and the admin commands. The library
//! half exists so integration tests can start a real server in-process.

pub mod account;
pub mod agent_exec;
pub mod backup;
pub mod config;
pub mod credentials;
pub mod devtls;
pub mod dlq;
pub mod export;
pub mod keycmd;
pub mod logging;
pub mod progress;
pub mod rootkey;
pub mod run;
pub mod transfer;
pub mod verify;

pub use run::{start, Running, StartOptions};
