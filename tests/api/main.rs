//! Integration tests: each starts a simulator on port 0 and talks HTTP to it like a real client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod cli;
mod clock;
mod health;
mod helpers;
mod journal;
mod operations;
mod seed;
mod tenants;
