//! `audit` and `serve --audit-interval`.
//!
//! Against the real API server (`on_the_apiserver`), run as the audit CronJob's
//! ServiceAccount: lists paged by the API server, PolicyReports created, replaced and
//! deleted (Kyverno's left alone), a kind the account may not list (exit 2, the other
//! kinds still audited), Cluster API objects judged in their AWSCluster's region.
//!
//! Against a loopback stand-in ([`FakeApi`](fake_api::FakeApi)), for what a real server
//! shared by the tests cannot be made to do: it answers as kube-apiserver does for the
//! four kinds, AWSClusters and PolicyReports (paged lists, label selectors, writes with
//! resourceVersions, `Status` errors), records every request and can hold one, and can
//! leave a CRD out. Covered there:
//! - `audit`'s text and JSON output and exit codes over a whole realistic cluster (three
//!   namespaces; the shared server holds other tests' objects), and kinds whose CRD is
//!   not installed (skipped, not an error) (`output`);
//! - `--report` kept while the audit is incomplete, and one clear error when the
//!   PolicyReport CRD is missing (`reports`);
//! - 5,000 Machines in pages of 500: ten list requests, the peak memory of the process
//!   not growing with the cluster (`scale`);
//! - `serve --audit-interval`: the audit metrics, each finding logged once when it
//!   appears and once when it clears, admissions answered all along (`serve`).

mod fake_api;
mod objects;
mod on_the_apiserver;
mod output;
mod reports;
mod scale;
mod serve;
