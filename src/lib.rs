#![forbid(unsafe_code)]
//! machine-efa-webhook: admission webhook for `networkInterfaceType` on OpenShift
//! Machine API AWS machines.
//!
//! Three rooms: [`core`] decides (pure), [`capabilities`] keeps the instance-type table
//! fresh, and the shell ([`admission`], [`server`], [`tls`], [`certs`], and the CLI in
//! `main.rs`) speaks HTTPS and AdmissionReview.

pub mod admission;
pub mod capabilities;
pub mod certs;
pub mod check;
pub mod cluster;
pub mod core;
pub mod idle;
pub mod instance_types;
pub mod manifest;
pub mod metrics;
pub mod pruned;
pub mod server;
pub mod tls;
