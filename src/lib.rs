//! gatehouse: an API gateway (OAuth 2.0 resource server) and an OAuth 2.0 /
//! OpenID Connect authorization server in one binary.

pub mod admin;
pub mod authz;
pub mod cli;
pub mod config;
pub mod error;
pub mod gateway;
pub mod keys;
pub mod net;
pub mod ops;
pub mod outbound;
pub mod server;
pub mod store;
pub mod token;
pub mod web;
