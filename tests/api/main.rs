//! The integration tests: one binary, every test over real HTTP against a spawned gateway.

mod helpers;
mod jwt;

mod api_keys;
mod apq;
mod auth;
mod cli;
mod concurrency;
mod crud;
mod dataloader;
mod error_shapes;
mod failures;
mod fuzz;
mod graphiql;
mod hardening;
mod http_spec;
mod limits;
mod members;
mod migrations;
mod nodes;
mod ops;
mod pagination;
mod phone_numbers;
mod proxy;
mod rate_limit;
mod resilience;
mod rest;
mod roles;
mod schema;
mod secrets;
mod sessions;
mod shapes;
mod tenancy;
mod validation;
