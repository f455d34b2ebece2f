//! The integration tests, in one binary: linking the crate and the AWS SDK once, and
//! sharing one real etcd + kube-apiserver ([`common::apiserver`]) among the tests that
//! need one. `make test` builds the API server and starts moto; each module says what
//! it proves.

mod common;

mod admission;
mod audit;
mod bad_input;
mod check;
mod cli;
mod cluster;
mod cluster_api;
mod ec2;
mod faults;
mod https;
mod launch;
mod load;
mod manifests;
mod properties;
mod tls;
