//! The integration tests: one binary, every test over real HTTP against a spawned gateway.

mod helpers;

mod auth;
mod cli;
mod crud;
mod dataloader;
mod failures;
mod migrations;
mod pagination;
mod schema;
mod secrets;
mod shapes;
mod tenancy;
mod validation;
