//! Reading the capability table from EC2 with the real aws-sdk-ec2 client.

use crate::core::InstanceTypeInfo;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::LocationType;
use std::collections::{HashMap, HashSet};
use std::fmt;

/// DescribeInstanceTypes answers at most 100 types a page.
const INSTANCE_TYPES_PAGE: i32 = 100;
/// DescribeInstanceTypeOfferings answers at most 1000 offerings a page.
const OFFERINGS_PAGE: i32 = 1000;

/// What one region's EC2 said.
#[derive(Debug, Default)]
pub struct RegionData {
    pub instance_types: HashMap<String, InstanceTypeInfo>,
    pub offered: HashSet<String>,
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

    let mut pages = client
        .describe_instance_type_offerings()
        .location_type(LocationType::Region)
        .max_results(OFFERINGS_PAGE)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| FetchError::from_sdk("DescribeInstanceTypeOfferings", region, e))?;
        data.offered.extend(
            page.instance_type_offerings()
                .iter()
                .filter_map(|o| o.instance_type())
                .map(|t| t.as_str().to_owned()),
        );
    }
    Ok(data)
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
