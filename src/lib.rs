#![forbid(unsafe_code)]
//! machine-efa-webhook: admission webhook for `networkInterfaceType` on OpenShift
//! Machine API and Cluster API AWS machines.
//!
//! The rooms (see ARCHITECTURE.md): [`core`] decides, purely; [`capabilities`] keeps
//! the instance-type table and keeps it fresh; [`admission`] turns a review's bytes into
//! a `core::Request` and a decision back into bytes; [`server`] serves it over HTTPS;
//! [`cluster`] reads the cluster; [`audit`] judges
//! what is already in it; [`metrics`] counts; [`cli`] holds the commands.

pub mod admission;
pub mod audit;
pub mod capabilities;
pub mod cli;
pub mod cluster;
pub mod core;
pub mod metrics;
pub mod server;
