//! The integration tests: one binary, a module per area, sharing the helpers in `common`.
//! Run one area with `cargo test --test it <area>::` (e.g. `cargo test --test it redis::`).

mod common;

mod celigo;
mod celigo_mutations;
mod cli;
mod correctness;
mod dealcloud;
mod declared;
mod edge;
mod examples;
mod federation;
mod hexabase;
mod hostile;
mod http;
mod redis;
mod rendered;
mod resilience;
mod rocketchat;
mod telemetry;
mod tenants;
mod timeline;
mod truto;
