//! `audit` at scale: 5,000 Machines in pages of 500, every one audited in ten list
//! requests, with the peak memory of the process not growing with the cluster.

use crate::audit::fake_api::{Cluster, FakeApi, MACHINE_API, Measured, Recorded, Run};
use crate::audit::objects::{audit_fixture, worker_machine};
use std::time::{Duration, Instant};

/// `count` worker Machines in openshift-machine-api, one in ten with EFA on m5.2xlarge.
fn machines_only(count: usize) -> Cluster {
    let template = audit_fixture("machine-worker-running.json");
    let mut cluster = Cluster::default();
    for n in 0..count {
        cluster.add(worker_machine(&template, n, Some(10)));
    }
    cluster
}

/// Audits `count` Machines in pages of 500; the run, its Machine list requests, the
/// peak RSS at the last Machine page and at the run's last request, and how long it took.
async fn audit_machines(count: usize) -> (Run, Vec<Recorded>, Measured, Duration) {
    let api = FakeApi::start(machines_only(count)).await;
    let started = Instant::now();
    let run = api.audit_measured(&["--page-size", "500"], true).await;
    let elapsed = started.elapsed();
    let lists = api.requests(|r| r.is_list_of("machines"));
    let measured = api.cluster().measured.take().unwrap();
    api.stop().await;
    (run, lists, measured, elapsed)
}

#[tokio::test(flavor = "multi_thread")]
async fn five_thousand_machines_are_read_in_pages_with_bounded_memory() {
    let (small, small_lists, small_peak, _) = audit_machines(500).await;
    assert_eq!(small.code, 1, "{small}");
    assert_eq!(small_lists.len(), 1);

    let (large, large_lists, large_peak, elapsed) = audit_machines(5000).await;
    assert_eq!(large.code, 1, "{large}");
    assert_eq!(
        large.lines().last().copied(),
        Some("audited 5000 objects (5000 Machine): 500 with findings, 4500 warnings"),
        "{large}"
    );
    // A line per finding, per warning (the embedded table cannot tell whether
    // m6i.xlarge is offered in us-east-1a) and the summary.
    assert_eq!(large.lines().len(), 5001, "{large}");
    // Ten pages: the first without a token, each next with the one the last gave.
    assert_eq!(large_lists.len(), 10, "{large_lists:?}");
    for (n, list) in large_lists.iter().enumerate() {
        assert_eq!(list.path, format!("/apis/{MACHINE_API}/machines"));
        assert_eq!(list.query["limit"], "500");
        assert_eq!(list.query.contains_key("continue"), n > 0, "{list:?}");
    }

    let mib = |kib: Option<u64>| kib.expect("measured") as f64 / 1024.0;
    eprintln!(
        "audit of 500 Machines: peak RSS {:.1} MiB when its (only) page was served, {:.1} MiB at the run's last request",
        mib(small_peak.at_last_machine_page_kib),
        mib(small_peak.at_latest_request_kib)
    );
    eprintln!(
        "audit of 5000 Machines: peak RSS {:.1} MiB when the last page was served, {:.1} MiB at the run's last request; took {elapsed:.2?}",
        mib(large_peak.at_last_machine_page_kib),
        mib(large_peak.at_latest_request_kib)
    );
    // Memory follows the page, not the cluster: ten times the Machines stay within
    // 16 MiB of one page's worth. The baseline is read at the end of the small run:
    // when its only page is served nothing has been parsed yet, while the large run
    // has parsed nine pages by its last one. (Measured: the peak levels off from the
    // second page on, at 1,000 Machines as at 20,000.)
    const MARGIN_KIB: u64 = 16 * 1024;
    let baseline = small_peak.at_latest_request_kib.unwrap();
    for (when, peak) in [
        (
            "the last page was served",
            large_peak.at_last_machine_page_kib,
        ),
        ("the run's last request", large_peak.at_latest_request_kib),
    ] {
        assert!(
            peak.unwrap() < baseline + MARGIN_KIB,
            "5000 Machines peaked at {peak:?} KiB when {when}; 500 at {baseline} KiB"
        );
    }
}
