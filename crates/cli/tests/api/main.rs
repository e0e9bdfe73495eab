//! Integration tests: a real Coffer server on an ephemeral port, driven by the
//! official AWS SDK for Rust (and a raw signer for deliberately bad requests).

mod access;
mod access_sts;
mod agent;
mod agent_roles;
mod agent_tls;
mod audit_fail;
mod auth;
mod authz_conditions;
mod authz_matrix;
mod authz_query;
mod backup;
mod common;
mod deletion;
mod durability;
mod errors;
mod fleet;
mod fleet_durability;
mod fleet_reach;
mod kms;
mod labels;
mod lifecycle;
mod listing;
mod pgcluster;
mod quota;
mod raw;
mod replication;
mod retention;
mod root_rotation;
mod rotation;
mod rotation_mysql;
mod rotation_pg;
mod tls;
mod trust;
mod two_servers;
