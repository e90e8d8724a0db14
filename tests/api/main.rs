//! Integration tests: each starts a simulator on port 0 and talks HTTP to it like a real client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod browser;
mod cli;
mod clock;
mod control;
mod control_token;
mod d365fo;
mod examples;
mod faults;
mod health;
mod helpers;
mod integration;
mod journal;
mod lcs;
mod lcs_assets;
mod lcs_portal;
mod openapi;
mod operations;
mod ppac;
mod python_sdk;
mod scenarios;
mod seed;
mod tenants;
mod ui;
