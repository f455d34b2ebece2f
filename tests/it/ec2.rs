//! The capability source against the moto EC2 emulator (started by `make test`), with
//! the real aws-sdk-ec2 client: paging, per-region offerings, background refresh,
//! failures that keep the old table, and the snapshot command.

use crate::common;

use common::{moto_client, moto_endpoint, policy, sdk_config_for, security_group};
use machine_efa_webhook::capabilities::snapshot::{self, SnapshotFile};
use machine_efa_webhook::capabilities::{
    CapabilityStore, RefreshSettings, ec2, refresh_region, spawn_refresher,
};
use machine_efa_webhook::core::{self, CapabilityTable, Operation, SourceKind};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

async fn pages_served(action: &str) -> u64 {
    let text = reqwest::get(format!("{}/__paged_moto/stats", moto_endpoint()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let stats: Value = serde_json::from_str(&text).unwrap();
    stats[action].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn fetch_follows_every_page_and_regions_differ() {
    let sdk = sdk_config_for(&moto_endpoint()).await;
    let before = pages_served("DescribeInstanceTypes").await;
    let east1 = ec2::fetch_region(&sdk, "us-east-1").await.unwrap();
    let after = pages_served("DescribeInstanceTypes").await;
    // moto knows about 1,260 types: at 100 a page that is at least 13 pages.
    assert!(
        east1.instance_types.len() > 1200,
        "{}",
        east1.instance_types.len()
    );
    assert!(after - before >= 13, "pages followed: {}", after - before);
    let efa: Vec<_> = east1
        .instance_types
        .iter()
        .filter(|(_, t)| t.efa_supported)
        .collect();
    assert!(efa.len() > 200, "{}", efa.len());
    let p4d = &east1.instance_types["p4d.24xlarge"];
    assert!(p4d.efa_supported && p4d.maximum_efa_interfaces >= 1 && p4d.vcpus == 96);
    assert!(!east1.instance_types["m5.2xlarge"].efa_supported);

    let east2 = ec2::fetch_region(&sdk, "us-east-2").await.unwrap();
    assert!(!east1.offered.contains("hpc6a.48xlarge"));
    assert!(east2.offered.contains("hpc6a.48xlarge"));
    assert_ne!(east1.offered.len(), east2.offered.len());
}

/// A loopback address where nothing listens: connections are refused at once.
fn dead_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// A loopback EC2 stand-in that answers every call with HTTP 500; stops when dropped.
async fn failing_endpoint() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "<Response><Errors><Error><Code>InternalError</Code><Message>boom</Message></Error></Errors></Response>",
        )
    });
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, task)
}

fn efa_review(region: &str, instance_type: &str) -> Value {
    json!({"spec": {"providerSpec": {"value": {
        "apiVersion": "machine.openshift.io/v1beta1", "kind": "AWSMachineProviderConfig",
        "networkInterfaceType": "EFA", "instanceType": instance_type,
        "placement": {"region": region}
    }}}})
}

fn validate(store: &CapabilityStore, object: &Value) -> core::Decision {
    let request = core::Request {
        group: "machine.openshift.io",
        version: "v1beta1",
        kind: "Machine",
        operation: Operation::Create,
        object: Some(object),
        old_object: None,
        cluster_region: None,
    };
    core::validate(&request, &policy(), &store.view())
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_last_good_table_and_says_so() {
    let store = CapabilityStore::fixed(CapabilityTable::default());
    let good = sdk_config_for(&moto_endpoint()).await;
    refresh_region(&store, &good, "us-east-1", Duration::ZERO)
        .await
        .unwrap();
    let loaded = store.current();
    assert_eq!(
        loaded.regions["us-east-1"].provenance.source,
        SourceKind::Ec2
    );

    let refused = sdk_config_for(&dead_endpoint()).await;
    let err = refresh_region(&store, &refused, "us-east-1", Duration::ZERO)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ec2::FetchErrorKind::Network, "{err}");
    let (failing, server) = failing_endpoint().await;
    let failing = sdk_config_for(&failing).await;
    assert!(
        refresh_region(&store, &failing, "us-east-1", Duration::ZERO)
            .await
            .is_err()
    );
    server.abort();

    let kept = store.current();
    assert_eq!(kept.instance_types, loaded.instance_types);
    assert_eq!(
        kept.regions["us-east-1"].offered,
        loaded.regions["us-east-1"].offered
    );
    // Answers are unchanged, and a warning says the data could not be refreshed.
    let denied = validate(&store, &efa_review("us-east-1", "m5.2xlarge"));
    assert!(!denied.allowed());
    let allowed = validate(&store, &efa_review("us-east-1", "p4d.24xlarge"));
    assert!(allowed.allowed());
    assert!(
        allowed.warnings[0].starts_with("capability data for us-east-1 is from the EC2 of ")
            && allowed.warnings[0].contains("refreshing from EC2 failed at"),
        "{:?}",
        allowed.warnings
    );
}

async fn wait_for(store: &CapabilityStore, what: &str, done: impl Fn(&CapabilityTable) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !done(&store.current()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_refresher_loads_configured_and_first_seen_regions_in_the_background() {
    let (store, requests) = CapabilityStore::refreshed(snapshot::embedded_table());
    let store = Arc::new(store);
    let sdk = sdk_config_for(&moto_endpoint()).await;
    let task = spawn_refresher(
        store.clone(),
        sdk,
        vec!["us-east-2".into()],
        RefreshSettings::with_interval(Duration::from_secs(3600)),
        requests,
        Default::default(),
    );
    // Until EC2 answers, the embedded table serves.
    assert!(
        validate(&store, &efa_review("us-east-2", "m5.2xlarge"))
            .errors
            .len()
            == 1
    );
    wait_for(&store, "us-east-2 from EC2", |t| {
        t.regions["us-east-2"].provenance.source == SourceKind::Ec2
    })
    .await;

    // A region the table lacks: allowed with a warning now, loaded in the background.
    let mut without = CapabilityTable::clone(&store.current());
    without.regions.remove("eu-west-3");
    let (store2, requests2) = CapabilityStore::refreshed(without);
    let store2 = Arc::new(store2);
    let task2 = spawn_refresher(
        store2.clone(),
        sdk_config_for(&moto_endpoint()).await,
        vec![],
        RefreshSettings::with_interval(Duration::from_secs(3600)),
        requests2,
        Default::default(),
    );
    let first = validate(&store2, &efa_review("eu-west-3", "m5.2xlarge"));
    assert!(first.allowed());
    assert!(first.warnings[0].starts_with(r#"region "eu-west-3" is not in the capability table"#));
    wait_for(&store2, "eu-west-3 on demand", |t| {
        t.regions.contains_key("eu-west-3")
    })
    .await;
    let later = validate(&store2, &efa_review("eu-west-3", "m5.2xlarge"));
    assert!(!later.allowed(), "{later:?}");

    // A region that only the embedded snapshot has: answered from it now, and loaded
    // from EC2 in the background because a review named it.
    assert_eq!(
        store2.current().regions["eu-north-1"].provenance.source,
        SourceKind::Embedded
    );
    assert!(!validate(&store2, &efa_review("eu-north-1", "m5.2xlarge")).allowed());
    wait_for(&store2, "eu-north-1 from EC2 on demand", |t| {
        t.regions["eu-north-1"].provenance.source == SourceKind::Ec2
    })
    .await;
    task.abort();
    task2.abort();
}

#[tokio::test]
async fn the_snapshot_command_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("capabilities.json");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_machine-efa-webhook"))
        .args(["snapshot", "--regions", "us-east-1,us-east-2", "--out"])
        .arg(&out)
        .env("AWS_ENDPOINT_URL", moto_endpoint())
        .env("RUST_LOG", "warn")
        .status()
        .unwrap();
    assert!(status.success());
    let file = SnapshotFile::read(&out).unwrap();
    assert_eq!(file.format_version, snapshot::FORMAT_VERSION);
    assert_eq!(
        file.regions.keys().collect::<Vec<_>>(),
        ["us-east-1", "us-east-2"]
    );
    let table = file.to_table(SourceKind::File);

    // What the file holds is what EC2 said.
    let sdk = sdk_config_for(&moto_endpoint()).await;
    let live = ec2::fetch_region(&sdk, "us-east-2").await.unwrap();
    assert_eq!(table.regions["us-east-2"].offered, live.offered);
    assert_eq!(
        table.instance_types["hpc6a.48xlarge"],
        live.instance_types["hpc6a.48xlarge"]
    );

    // Written again from the table, it reads back the same.
    let again = dir.path().join("again.json");
    SnapshotFile::new(file.source.clone(), file.generated_at.clone(), &table)
        .write(&again)
        .unwrap();
    assert_eq!(
        SnapshotFile::read(&again)
            .unwrap()
            .to_table(SourceKind::File),
        table
    );

    // The embedded snapshot was made by this command from the same data.
    let embedded = snapshot::embedded_table();
    assert_eq!(
        embedded.regions["us-east-1"].offered,
        table.regions["us-east-1"].offered
    );
    assert_eq!(embedded.instance_types, table.instance_types);
}

/// A client of `region` on moto, for setting up what the tests read.
#[tokio::test]
async fn zone_offerings_and_this_accounts_zone_names_are_read_across_pages() {
    let sdk = sdk_config_for(&moto_endpoint()).await;
    let before = pages_served("DescribeInstanceTypeOfferings").await;
    let east1 = ec2::fetch_region(&sdk, "us-east-1").await.unwrap();
    let pages = pages_served("DescribeInstanceTypeOfferings").await - before;
    // Over 6,000 zone offerings at 1,000 a page, and the region's at least two pages.
    assert!(pages >= 9, "pages followed: {pages}");
    assert_eq!(
        east1.zones.keys().collect::<Vec<_>>(),
        [
            "use1-az1", "use1-az2", "use1-az3", "use1-az4", "use1-az5", "use1-az6"
        ]
    );
    let p4d: Vec<&str> = east1
        .zones
        .iter()
        .filter(|(_, offered)| offered.contains("p4d.24xlarge"))
        .map(|(zone, _)| zone.as_str())
        .collect();
    assert_eq!(p4d, ["use1-az1", "use1-az2", "use1-az4", "use1-az6"]);

    let names = ec2::fetch_zone_names(&sdk, "us-east-1").await.unwrap();
    assert_eq!(names["us-east-1e"], "use1-az3");
    assert_eq!(names["us-east-1a"], "use1-az6");
}

#[tokio::test]
async fn placement_groups_are_read_from_the_stand_in() {
    let client = moto_client("eu-west-2").await;
    for (name, strategy) in [
        (
            "ec2-test-cluster",
            aws_sdk_ec2::types::PlacementStrategy::Cluster,
        ),
        (
            "ec2-test-spread",
            aws_sdk_ec2::types::PlacementStrategy::Spread,
        ),
    ] {
        client
            .create_placement_group()
            .group_name(name)
            .strategy(strategy)
            .send()
            .await
            .unwrap();
    }
    let sdk = sdk_config_for(&moto_endpoint()).await;
    let groups = ec2::fetch_placement_groups(&sdk, "eu-west-2")
        .await
        .unwrap();
    assert_eq!(groups["ec2-test-cluster"].strategy, "cluster");
    assert_eq!(groups["ec2-test-cluster"].state, "available");
    assert_eq!(groups["ec2-test-spread"].strategy, "spread");
    assert!(
        !ec2::fetch_placement_groups(&sdk, "eu-west-1")
            .await
            .unwrap()
            .contains_key("ec2-test-cluster")
    );
}

#[tokio::test]
async fn security_groups_resolve_by_id_and_by_filters_with_their_rules() {
    use machine_efa_webhook::core::SecurityGroupRef;
    let region = "ca-central-1";
    let efa = security_group(region, "ec2-test-efa-sg", true, true).await;
    let half = security_group(region, "ec2-test-half-sg", true, false).await;
    let sdk = sdk_config_for(&moto_endpoint()).await;

    let by_id = ec2::resolve_security_groups(&sdk, region, &SecurityGroupRef::Id(efa.clone()))
        .await
        .unwrap();
    assert_eq!(by_id.len(), 1);
    assert_eq!(by_id[0].name, "ec2-test-efa-sg");
    assert!(by_id[0].allows_all_from_itself && by_id[0].allows_all_to_itself);

    let by_tag =
        SecurityGroupRef::Filters(vec![("tag:Name".into(), vec!["ec2-test-half-sg".into()])]);
    let found = ec2::resolve_security_groups(&sdk, region, &by_tag)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, half);
    assert!(found[0].allows_all_from_itself && !found[0].allows_all_to_itself);

    // An ID that does not exist resolves to no group, not to an error.
    let gone = SecurityGroupRef::Id("sg-0123456789abcdef0".into());
    assert!(
        ec2::resolve_security_groups(&sdk, region, &gone)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn security_group_filters_are_followed_across_pages() {
    use machine_efa_webhook::core::SecurityGroupRef;
    let region = "ap-southeast-2";
    let client = moto_client(region).await;
    // More groups under one tag than a page holds.
    for n in 0..105 {
        client
            .create_security_group()
            .group_name(format!("ec2-test-paged-{n}"))
            .description("machine-efa-webhook paging test")
            .tag_specifications(
                aws_sdk_ec2::types::TagSpecification::builder()
                    .resource_type(aws_sdk_ec2::types::ResourceType::SecurityGroup)
                    .tags(
                        aws_sdk_ec2::types::Tag::builder()
                            .key("pool")
                            .value("ec2-test-paged")
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    let sdk = sdk_config_for(&moto_endpoint()).await;
    let before = pages_served("DescribeSecurityGroups").await;
    let reference =
        SecurityGroupRef::Filters(vec![("tag:pool".into(), vec!["ec2-test-paged".into()])]);
    let found = ec2::resolve_security_groups(&sdk, region, &reference)
        .await
        .unwrap();
    assert_eq!(found.len(), 105);
    assert!(pages_served("DescribeSecurityGroups").await - before >= 2);
}
