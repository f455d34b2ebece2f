//! `audit` and `serve --audit-interval` against a loopback stand-in for the API server.
//!
//! The stand-in ([`FakeApi`](fake_api::FakeApi)) answers as kube-apiserver does for
//! the four audited kinds, AWSClusters and PolicyReports: paged lists (`limit` and
//! `continue`), label selectors, create/replace/delete with resourceVersions, and
//! `Status` errors (403, 404, 409). It records every request, so a test can say what
//! the binary asked for.
//! The binary reaches it through a kubeconfig, as an operator's laptop or a CronJob
//! would. Covered:
//! - `audit`'s text and JSON output and exit codes, on realistic objects in three
//!   namespaces (an OpenShift Machine API and two Cluster API clusters);
//! - the region of a Cluster API object from its cluster's AWSCluster;
//! - a forbidden resource (exit 2, the other kinds still audited) and kinds whose CRD
//!   is not installed (skipped, not an error);
//! - `--report`: PolicyReports created, replaced, deleted, kept while the audit is
//!   incomplete, and one clear error when their CRD is missing;
//! - 5,000 Machines in pages of 500: every one audited in ten list requests, with the
//!   peak memory of the process not growing with the cluster;
//! - `serve --audit-interval`: the audit metrics, each finding logged once when it
//!   appears and once when it clears, and admissions answered all along.
//!
//! The stand-in is in `fake_api`, the objects it serves in `objects`; the tests are in
//! `output` (the first three items), `reports`, `scale` and `serve`.

mod fake_api;
mod objects;
mod on_the_apiserver;
mod output;
mod reports;
mod scale;
mod serve;
