//! The capability source: what the webhook knows of EC2, where it comes from (embedded
//! snapshot, file, live EC2: `ec2`, `snapshot`), how it is kept fresh (`refresh`), and
//! the store admission reads it from without waiting (`store`).

pub mod ec2;
mod refresh;
pub mod snapshot;
mod store;

pub use refresh::{RefreshSettings, load, refresh_region, spawn_refresher};
pub use store::{CapabilityStore, Load, StoreView, loads_for, looks_like_region};

use std::str::FromStr;

/// `--capabilities embedded|ec2|PATH`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CapabilitySource {
    Embedded,
    Ec2,
    File(std::path::PathBuf),
}

impl FromStr for CapabilitySource {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "embedded" => CapabilitySource::Embedded,
            "ec2" => CapabilitySource::Ec2,
            path => CapabilitySource::File(path.into()),
        })
    }
}

/// RFC 3339 time, to the second.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
