//! lifecycle-sim: an in-memory emulator of the Dynamics 365 Lifecycle Services (LCS) and Power
//! Platform admin center (PPAC) admin APIs, with a virtual clock.
//!
//! Point a real client at it by changing only the base URL; drive time, tenants and faults through
//! the `/_sim` control plane. Start it as a binary (`lifecycle-sim`), or in-process from Rust tests
//! with [`Simulator`].
//!
//! Layout: `clock` (virtual time), `ops` (long-running operations as pure state machines),
//! `world` (the domain, no HTTP), `api` (one module per HTTP surface), `app` (start-up).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
pub(crate) mod app;
pub mod cli;
pub(crate) mod clock;
pub mod config;
pub mod control;
pub(crate) mod error;
pub(crate) mod events;
pub(crate) mod faults;
pub mod generate;
pub(crate) mod input;
pub mod journal;
pub mod ops;
pub mod scenario;
pub(crate) mod serve;
pub(crate) mod signing;
pub(crate) mod simulator;
pub(crate) mod state;
pub mod telemetry;
pub mod tls;
pub(crate) mod tokens;
pub(crate) mod ui;
pub(crate) mod world;

pub use app::{App, StartError, shutdown_signal};
pub use config::{AuthMode, Cli, Config, ControlToken};
pub use error::{ErrorCode, SimError};
pub use simulator::{Simulator, SimulatorBuilder};
/// Builds deployable packages and zips, as a test uploads them to the asset library.
pub use world::lcs::files as package_files;
