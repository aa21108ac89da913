//! # emporium-app
//!
//! The HTTP server (actix-web) over Emporium's domain services, its configuration and its
//! wiring of store adapters. The `emporium` binary is in `main.rs`; integration tests build
//! the same [`startup::Application`] on a random port.

pub mod admin_auth;
pub mod backend;
pub mod background;
pub mod backups;
pub mod config;
pub mod feed;
pub mod http;
pub mod metrics;
pub mod search;
pub mod seed;
pub mod startup;
pub mod state;
pub mod supervisor;
pub mod telemetry;
