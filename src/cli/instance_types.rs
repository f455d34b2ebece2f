//! `machine-efa-webhook instance-types`: the capability table as a list, for choosing
//! an instance type at the terminal.

use super::{TableArgs, one_shot_region, one_shot_table};
use crate::capabilities::Load;
use crate::core::capability::instance_family;
use crate::core::{
    CapabilityLookup, CapabilityTable, InstanceTypeInfo, Provenance, RegionOfferings, ZoneNames,
};
use anyhow::{Result, bail};
use clap::ValueEnum;
use serde::Serialize;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Clone, Copy, ValueEnum)]
pub enum ListOutput {
    Table,
    Json,
}

#[derive(clap::Args)]
pub struct InstanceTypesArgs {
    /// Only the types that support EFA.
    #[arg(long, env = "EFA_WEBHOOK_LIST_EFA")]
    pub efa: bool,
    /// Only these families (`p5`, `c5n`), comma-separated.
    #[arg(long, env = "EFA_WEBHOOK_LIST_FAMILY", value_delimiter = ',')]
    pub family: Vec<String>,
    /// Only the types this availability zone offers: a zone ID (`use1-az1`), or a zone name (`us-east-1a`) with `--capabilities ec2`, which reads this account's names.
    #[arg(long, env = "EFA_WEBHOOK_LIST_ZONE")]
    pub zone: Option<String>,
    /// Output format.
    #[arg(
        short = 'o',
        long,
        env = "EFA_WEBHOOK_LIST_OUTPUT",
        value_enum,
        default_value = "table"
    )]
    pub output: ListOutput,
    #[command(flatten)]
    pub table: TableArgs,
}

/// Prints the listing.
pub async fn run(args: InstanceTypesArgs) -> Result<ExitCode> {
    let region = one_shot_region(&args.table.region).await;
    let loads = [
        Load::InstanceTypes(region.clone()),
        Load::ZoneNames(region.clone()),
    ];
    let table = one_shot_table(&args.table.capabilities, loads, &region).await?;
    let listing = list(
        &table,
        &Query {
            region: &region,
            efa_only: args.efa,
            families: &args.family,
            zone: args.zone.as_deref(),
        },
    )?;
    match args.output {
        ListOutput::Table => print!("{}", listing.to_table()),
        ListOutput::Json => print!("{}", listing.to_json()),
    }
    Ok(ExitCode::SUCCESS)
}

/// What to list.
pub struct Query<'a> {
    pub region: &'a str,
    pub efa_only: bool,
    /// Families (`p5`, `c5n`) to keep; empty keeps all.
    pub families: &'a [String],
    /// A zone (ID, or name where the account's names are known) whose types to keep.
    pub zone: Option<&'a str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub instance_type: String,
    pub efa_supported: bool,
    pub maximum_efa_interfaces: u32,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub network_performance: String,
    /// `None` when the table does not know the region.
    pub offered: Option<bool>,
    /// The region's zones that offer it, by name where this account's names are known,
    /// else by zone ID; `None` when the table has no zone data for the region.
    pub zones: Option<Vec<String>>,
}

/// The listing: where the data is from, and the rows.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Listing {
    pub region: String,
    /// `embedded snapshot of 2026-…`, `EC2 of …`, or that the region is not in the table.
    pub source: String,
    /// How many zones the region has, in the table's zone data.
    pub zone_count: usize,
    pub instance_types: Vec<Row>,
}

/// The rows `query` asks for, by family, then size (vCPUs, memory), then name; an error
/// when the zone asked for is not one the table knows in the region.
pub fn list(table: &CapabilityTable, query: &Query<'_>) -> Result<Listing> {
    let offerings = table.regions.get(query.region);
    let names = table.zone_names(query.region);
    let zone_id = match query.zone {
        None => None,
        Some(zone) => Some(zone_id(
            zone,
            query.region,
            offerings.map(Arc::as_ref),
            names,
        )?),
    };
    let wanted = |name: &str, info: &InstanceTypeInfo| {
        (!query.efa_only || info.efa_supported)
            && (query.families.is_empty()
                || query
                    .families
                    .iter()
                    .any(|f| f.eq_ignore_ascii_case(instance_family(name))))
            && zone_id.is_none_or(|zone| {
                offerings
                    .and_then(|o| o.zones.get(zone))
                    .is_some_and(|offered| offered.contains(name))
            })
    };
    let zones_of = |name: &str| {
        let offerings = offerings.filter(|o| !o.zones.is_empty())?;
        let mut zones: Vec<String> = offerings
            .zones_offering(name)
            .map(|id| {
                names
                    .and_then(|names| names.name_of(id))
                    .unwrap_or(id)
                    .to_owned()
            })
            .collect();
        zones.sort_unstable();
        Some(zones)
    };
    let mut rows: Vec<Row> = table
        .instance_types
        .iter()
        .filter(|(name, info)| wanted(name, info))
        .map(|(name, info)| Row {
            instance_type: name.clone(),
            efa_supported: info.efa_supported,
            maximum_efa_interfaces: info.maximum_efa_interfaces,
            vcpus: info.vcpus,
            memory_mib: info.memory_mib,
            network_performance: info.network_performance.clone(),
            offered: offerings.map(|o| o.offered.contains(name)),
            zones: zones_of(name),
        })
        .collect();
    rows.sort_by(|a, b| {
        (
            instance_family(&a.instance_type),
            a.vcpus,
            a.memory_mib,
            &a.instance_type,
        )
            .cmp(&(
                instance_family(&b.instance_type),
                b.vcpus,
                b.memory_mib,
                &b.instance_type,
            ))
    });
    Ok(Listing {
        region: query.region.to_owned(),
        source: offerings.map_or_else(
            || format!("region {} is not in the capability table", query.region),
            |o| describe(&o.provenance),
        ),
        zone_count: offerings.map_or(0, |o| o.zones.len()),
        instance_types: rows,
    })
}

/// The ID of `zone`, given as an ID or as a name this account's zone names know.
fn zone_id<'a>(
    zone: &'a str,
    region: &str,
    offerings: Option<&RegionOfferings>,
    names: Option<&'a ZoneNames>,
) -> Result<&'a str> {
    if offerings.is_some_and(|o| o.zones.contains_key(zone)) {
        return Ok(zone);
    }
    match names.and_then(|names| names.ids.get(zone)) {
        Some(id) => Ok(id),
        None if names.is_none() => bail!(
            "zone {zone} is not a zone ID the capability table knows in {region}; zone names need this account's mapping: --capabilities ec2"
        ),
        None => bail!("zone {zone} is not a zone of {region}"),
    }
}

fn describe(provenance: &Provenance) -> String {
    match &provenance.stale_reason {
        Some(stale) => format!("{provenance} (stale: {stale})"),
        None => provenance.to_string(),
    }
}

impl Listing {
    /// Aligned columns under a first line that says where the data is from.
    pub fn to_table(&self) -> String {
        let header = [
            "INSTANCE TYPE",
            "EFA",
            "MAX EFA",
            "VCPUS",
            "MEMORY",
            "NETWORK",
            &format!("OFFERED IN {}", self.region),
            "ZONES",
        ];
        let cells: Vec<[String; 8]> = self
            .instance_types
            .iter()
            .map(|row| {
                [
                    row.instance_type.clone(),
                    yes_no(row.efa_supported).to_owned(),
                    row.maximum_efa_interfaces.to_string(),
                    row.vcpus.to_string(),
                    gib(row.memory_mib),
                    row.network_performance.clone(),
                    row.offered.map_or("unknown", yes_no).to_owned(),
                    match &row.zones {
                        None => "unknown".to_owned(),
                        Some(zones) if zones.is_empty() => "-".to_owned(),
                        Some(zones) if zones.len() == self.zone_count => {
                            format!("all {}", self.zone_count)
                        }
                        Some(zones) => zones.join(","),
                    },
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for row in &cells {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.len());
            }
        }
        let count = self.instance_types.len();
        let mut out = format!(
            "# {count} instance {}; capability table: {}\n",
            if count == 1 { "type" } else { "types" },
            self.source
        );
        let header = header.map(str::to_owned);
        for row in std::iter::once(&header).chain(&cells) {
            let line: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            let _ = writeln!(out, "{}", line.join("  ").trim_end());
        }
        out
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a listing always serialises") + "\n"
    }
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

fn gib(mib: u64) -> String {
    if mib.is_multiple_of(1024) {
        format!("{} GiB", mib / 1024)
    } else {
        format!("{:.1} GiB", mib as f64 / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{RegionOfferings, SourceKind};
    use std::collections::{BTreeMap, HashMap, HashSet};

    fn table() -> CapabilityTable {
        let info = |efa: bool, vcpus: u32, memory_mib: u64| InstanceTypeInfo {
            efa_supported: efa,
            maximum_efa_interfaces: u32::from(efa),
            vcpus,
            memory_mib,
            network_performance: if efa {
                "100 Gigabit"
            } else {
                "Up to 10 Gigabit"
            }
            .into(),
        };
        CapabilityTable::new(
            HashMap::from([
                ("c5n.18xlarge".into(), info(true, 72, 196_608)),
                ("c5n.9xlarge".into(), info(true, 36, 98_304)),
                ("c5n.large".into(), info(false, 2, 5_376)),
                ("m5.2xlarge".into(), info(false, 8, 32_768)),
                ("hpc6a.48xlarge".into(), info(true, 96, 393_216)),
            ]),
            HashMap::from([(
                "us-east-1".into(),
                RegionOfferings {
                    offered: HashSet::from([
                        "c5n.18xlarge".into(),
                        "c5n.9xlarge".into(),
                        "c5n.large".into(),
                        "m5.2xlarge".into(),
                    ]),
                    zones: BTreeMap::from([
                        (
                            "use1-az1".into(),
                            HashSet::from(["c5n.18xlarge".into(), "c5n.large".into()]),
                        ),
                        ("use1-az2".into(), HashSet::from(["c5n.large".into()])),
                    ]),
                    provenance: Provenance {
                        source: SourceKind::Embedded,
                        fetched_at: "2026-11-25T00:00:00Z".into(),
                        stale_reason: None,
                    },
                },
            )]),
        )
    }

    fn names(listing: &Listing) -> Vec<&str> {
        listing
            .instance_types
            .iter()
            .map(|r| r.instance_type.as_str())
            .collect()
    }

    #[test]
    fn sorted_by_family_then_size() {
        let listing = list(
            &table(),
            &Query {
                region: "us-east-1",
                efa_only: false,
                families: &[],
                zone: None,
            },
        )
        .unwrap();
        assert_eq!(
            names(&listing),
            [
                "c5n.large",
                "c5n.9xlarge",
                "c5n.18xlarge",
                "hpc6a.48xlarge",
                "m5.2xlarge"
            ]
        );
        assert_eq!(listing.instance_types[3].offered, Some(false));
    }

    #[test]
    fn filters_by_efa_and_family() {
        let families = ["C5N".to_owned()];
        let listing = list(
            &table(),
            &Query {
                region: "us-east-1",
                efa_only: true,
                families: &families,
                zone: None,
            },
        )
        .unwrap();
        assert_eq!(names(&listing), ["c5n.9xlarge", "c5n.18xlarge"]);
    }

    #[test]
    fn the_table_says_where_its_data_is_from() {
        let families = ["c5n".to_owned()];
        let text = list(
            &table(),
            &Query {
                region: "us-east-1",
                efa_only: true,
                families: &families,
                zone: None,
            },
        )
        .unwrap()
        .to_table();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "# 2 instance types; capability table: embedded snapshot of 2026-11-25T00:00:00Z"
        );
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            [
                "INSTANCE",
                "TYPE",
                "EFA",
                "MAX",
                "EFA",
                "VCPUS",
                "MEMORY",
                "NETWORK",
                "OFFERED",
                "IN",
                "us-east-1",
                "ZONES"
            ]
        );
        assert_eq!(
            lines[3]
                .split("  ")
                .filter(|c| !c.is_empty())
                .map(str::trim)
                .collect::<Vec<_>>(),
            [
                "c5n.18xlarge",
                "yes",
                "1",
                "72",
                "192 GiB",
                "100 Gigabit",
                "yes",
                "use1-az1"
            ]
        );
        let unknown = list(
            &table(),
            &Query {
                region: "mars-north-1",
                efa_only: false,
                families: &[],
                zone: None,
            },
        )
        .unwrap();
        assert!(unknown.to_table().starts_with("# 5 instance types; capability table: region mars-north-1 is not in the capability table"));
        assert!(
            unknown
                .to_table()
                .lines()
                .nth(2)
                .unwrap()
                .ends_with("unknown")
        );
    }

    #[test]
    fn filters_by_zone_id_or_by_this_accounts_zone_name() {
        let query = |zone| Query {
            region: "us-east-1",
            efa_only: false,
            families: &[],
            zone: Some(zone),
        };
        let mut table = table();
        assert_eq!(
            names(&list(&table, &query("use1-az2")).unwrap()),
            ["c5n.large"]
        );
        // A zone name needs the account's mapping.
        let err = list(&table, &query("us-east-1b")).unwrap_err();
        assert!(err.to_string().contains("--capabilities ec2"), "{err}");
        table.zone_names.insert(
            "us-east-1".into(),
            Arc::new(ZoneNames {
                ids: BTreeMap::from([
                    ("us-east-1a".into(), "use1-az2".into()),
                    ("us-east-1b".into(), "use1-az1".into()),
                ]),
                provenance: Provenance {
                    source: SourceKind::Ec2,
                    fetched_at: "2026-12-06T00:00:00Z".into(),
                    stale_reason: None,
                },
            }),
        );
        let listing = list(&table, &query("us-east-1b")).unwrap();
        assert_eq!(names(&listing), ["c5n.large", "c5n.18xlarge"]);
        // With the mapping, zones are listed by name; all of them as "all".
        assert_eq!(
            listing.instance_types[1].zones,
            Some(vec!["us-east-1b".to_owned()])
        );
        assert!(
            listing
                .to_table()
                .lines()
                .nth(2)
                .unwrap()
                .ends_with("all 2")
        );
        assert!(list(&table, &query("us-east-1z")).is_err());
    }
}
