//! Reading from EC2 with the real aws-sdk-ec2 client: the capability table (instance
//! types, and what each region and zone offers) and this account's facts (zone names,
//! placement groups, security groups and their rules).

use crate::core::{InstanceTypeInfo, PlacementGroup, SecurityGroup, SecurityGroupRef};
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{Filter, IpPermission, LocationType};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

/// DescribeInstanceTypes answers at most 100 types a page.
const INSTANCE_TYPES_PAGE: i32 = 100;
/// DescribeInstanceTypeOfferings answers at most 1000 offerings a page.
const OFFERINGS_PAGE: i32 = 1000;
/// DescribeSecurityGroups groups a page (EC2 takes 5 to 1000): a machine names few.
const SECURITY_GROUPS_PAGE: i32 = 100;

/// What one region's EC2 said of its instance types.
#[derive(Debug, Default)]
pub struct RegionData {
    pub instance_types: HashMap<String, InstanceTypeInfo>,
    pub offered: HashSet<String>,
    /// Per availability zone ID, the types it offers.
    pub zones: BTreeMap<String, HashSet<String>>,
}

/// Why a fetch failed, coarsely, for operators (logs, metrics, warnings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchErrorKind {
    Throttled,
    Auth,
    Network,
    Other,
}

impl FetchErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FetchErrorKind::Throttled => "throttled",
            FetchErrorKind::Auth => "auth",
            FetchErrorKind::Network => "network",
            FetchErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for FetchErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{call} in {region} failed ({kind}): {detail}")]
pub struct FetchError {
    pub call: &'static str,
    pub region: String,
    pub kind: FetchErrorKind,
    pub detail: String,
}

impl FetchError {
    fn from_sdk<E, R>(call: &'static str, region: &str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug,
    {
        let kind = match &err {
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => FetchErrorKind::Network,
            SdkError::ResponseError(_) => FetchErrorKind::Network,
            _ => match err.code() {
                Some("Throttling" | "ThrottlingException" | "RequestLimitExceeded") => {
                    FetchErrorKind::Throttled
                }
                Some(
                    "AuthFailure"
                    | "UnauthorizedOperation"
                    | "InvalidClientTokenId"
                    | "SignatureDoesNotMatch"
                    | "ExpiredToken"
                    | "OptInRequired",
                ) => FetchErrorKind::Auth,
                _ => FetchErrorKind::Other,
            },
        };
        FetchError {
            call,
            region: region.to_owned(),
            kind,
            detail: DisplayErrorContext(&err).to_string(),
        }
    }
}

fn client_for(base: &aws_config::SdkConfig, region: &str) -> aws_sdk_ec2::Client {
    let config = aws_sdk_ec2::config::Builder::from(base)
        .region(aws_sdk_ec2::config::Region::new(region.to_owned()))
        .build();
    aws_sdk_ec2::Client::from_conf(config)
}

/// Every instance type of `region` with its EFA facts, and what the region offers.
pub async fn fetch_region(
    base: &aws_config::SdkConfig,
    region: &str,
) -> Result<RegionData, FetchError> {
    let client = client_for(base, region);
    let mut data = RegionData::default();

    let mut pages = client
        .describe_instance_types()
        .max_results(INSTANCE_TYPES_PAGE)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| FetchError::from_sdk("DescribeInstanceTypes", region, e))?;
        for info in page.instance_types() {
            let Some(name) = info.instance_type() else {
                continue;
            };
            let network = info.network_info();
            let positive = |n: Option<i32>| n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
            data.instance_types.insert(
                name.as_str().to_owned(),
                InstanceTypeInfo {
                    efa_supported: network.and_then(|n| n.efa_supported()).unwrap_or(false),
                    maximum_efa_interfaces: positive(
                        network
                            .and_then(|n| n.efa_info())
                            .and_then(|e| e.maximum_efa_interfaces()),
                    ),
                    vcpus: positive(info.v_cpu_info().and_then(|v| v.default_v_cpus())),
                    memory_mib: info
                        .memory_info()
                        .and_then(|m| m.size_in_mib())
                        .and_then(|m| u64::try_from(m).ok())
                        .unwrap_or(0),
                    network_performance: network
                        .and_then(|n| n.network_performance())
                        .unwrap_or_default()
                        .to_owned(),
                },
            );
        }
    }

    for (_, instance_type) in offerings(&client, region, LocationType::Region).await? {
        data.offered.insert(instance_type);
    }
    for (zone, instance_type) in
        offerings(&client, region, LocationType::AvailabilityZoneId).await?
    {
        data.zones.entry(zone).or_default().insert(instance_type);
    }
    Ok(data)
}

/// Every (location, instance type) DescribeInstanceTypeOfferings lists for `location`.
async fn offerings(
    client: &aws_sdk_ec2::Client,
    region: &str,
    location: LocationType,
) -> Result<Vec<(String, String)>, FetchError> {
    let mut found = Vec::new();
    let mut pages = client
        .describe_instance_type_offerings()
        .location_type(location)
        .max_results(OFFERINGS_PAGE)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| FetchError::from_sdk("DescribeInstanceTypeOfferings", region, e))?;
        found.extend(
            page.instance_type_offerings()
                .iter()
                .filter_map(|offering| {
                    Some((
                        offering.location()?.to_owned(),
                        offering.instance_type()?.as_str().to_owned(),
                    ))
                }),
        );
    }
    Ok(found)
}

/// This account's availability zones of `region`: name → zone ID.
pub async fn fetch_zone_names(
    base: &aws_config::SdkConfig,
    region: &str,
) -> Result<BTreeMap<String, String>, FetchError> {
    let output = client_for(base, region)
        .describe_availability_zones()
        .send()
        .await
        .map_err(|e| FetchError::from_sdk("DescribeAvailabilityZones", region, e))?;
    Ok(output
        .availability_zones()
        .iter()
        .filter_map(|zone| Some((zone.zone_name()?.to_owned(), zone.zone_id()?.to_owned())))
        .collect())
}

/// The placement groups of `region`, by name.
pub async fn fetch_placement_groups(
    base: &aws_config::SdkConfig,
    region: &str,
) -> Result<HashMap<String, PlacementGroup>, FetchError> {
    // DescribePlacementGroups has no paging: one answer holds them all.
    let output = client_for(base, region)
        .describe_placement_groups()
        .send()
        .await
        .map_err(|e| FetchError::from_sdk("DescribePlacementGroups", region, e))?;
    Ok(output
        .placement_groups()
        .iter()
        .filter_map(|group| {
            let facts = PlacementGroup {
                strategy: group.strategy()?.as_str().to_owned(),
                state: group.state()?.as_str().to_owned(),
            };
            Some((group.group_name()?.to_owned(), facts))
        })
        .collect())
}

/// The security groups `reference` names in `region`, as the machine controller finds
/// them (an ID, or DescribeSecurityGroups with the same filters), with what EFA needs of
/// their rules. An ID that does not exist resolves to no group.
pub async fn resolve_security_groups(
    base: &aws_config::SdkConfig,
    region: &str,
    reference: &SecurityGroupRef,
) -> Result<Vec<SecurityGroup>, FetchError> {
    let request = client_for(base, region).describe_security_groups();
    let request = match reference {
        // EC2 refuses MaxResults beside GroupIds; one ID is one page anyway.
        SecurityGroupRef::Id(id) => request.group_ids(id),
        SecurityGroupRef::Filters(filters) => filters.iter().fold(
            request.max_results(SECURITY_GROUPS_PAGE),
            |request, (name, values)| {
                request.filters(
                    Filter::builder()
                        .name(name)
                        .set_values(Some(values.clone()))
                        .build(),
                )
            },
        ),
    };
    let mut groups = Vec::new();
    let mut pages = request.into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Err(e) if e.code() == Some("InvalidGroup.NotFound") => break,
            page => page.map_err(|e| FetchError::from_sdk("DescribeSecurityGroups", region, e))?,
        };
        groups.extend(page.security_groups().iter().filter_map(|group| {
            let id = group.group_id()?;
            let name_tag = group
                .tags()
                .iter()
                .find(|tag| tag.key() == Some("Name"))
                .and_then(|tag| tag.value());
            Some(SecurityGroup {
                id: id.to_owned(),
                name: name_tag
                    .or(group.group_name())
                    .unwrap_or_default()
                    .to_owned(),
                allows_all_from_itself: allows_all_with(group.ip_permissions(), id),
                allows_all_to_itself: allows_all_with(group.ip_permissions_egress(), id),
            })
        }));
    }
    Ok(groups)
}

/// Whether `rules` allow all protocols from (or to) the group `id` itself.
fn allows_all_with(rules: &[IpPermission], id: &str) -> bool {
    rules.iter().any(|rule| {
        rule.ip_protocol() == Some("-1")
            && rule
                .user_id_group_pairs()
                .iter()
                .any(|pair| pair.group_id() == Some(id))
    })
}

/// The regions the account can use (DescribeRegions), sorted.
pub async fn list_regions(
    base: &aws_config::SdkConfig,
    from_region: &str,
) -> Result<Vec<String>, FetchError> {
    let output = client_for(base, from_region)
        .describe_regions()
        .send()
        .await
        .map_err(|e| FetchError::from_sdk("DescribeRegions", from_region, e))?;
    let mut regions: Vec<String> = output
        .regions()
        .iter()
        .filter_map(|r| r.region_name().map(str::to_owned))
        .collect();
    regions.sort_unstable();
    Ok(regions)
}

/// The SDK configuration from the standard chain (env, profile, web identity, IMDS;
/// `AWS_ENDPOINT_URL` honoured), with timeouts so that a hung endpoint cannot stall a refresh.
pub async fn sdk_config(region: &str) -> aws_config::SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .operation_attempt_timeout(std::time::Duration::from_secs(20))
        .operation_timeout(std::time::Duration::from_secs(60))
        .build();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .timeout_config(timeouts)
        .load()
        .await
}

/// The webhook's own region when no flag names it: env, then profile, then (only when
/// `use_imds`, i.e. when we talk to EC2 anyway) the instance metadata service.
pub async fn default_region(use_imds: bool) -> Option<String> {
    use aws_config::meta::region::RegionProviderChain;
    let mut chain = RegionProviderChain::first_try(
        aws_config::environment::region::EnvironmentVariableRegionProvider::new(),
    )
    .or_else(aws_config::profile::ProfileFileRegionProvider::builder().build());
    if use_imds {
        chain = chain.or_else(aws_config::imds::region::ImdsRegionProvider::builder().build());
    }
    chain.region().await.map(|r| r.as_ref().to_owned())
}
