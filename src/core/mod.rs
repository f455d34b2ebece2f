//! The pure decision: given an object (and the old one), the operation and a capability
//! lookup, return the patch, the field errors and the warnings. No I/O happens here.

pub mod capability;
mod efa;
pub mod field_error;
mod launch;
pub mod object;
mod rules;
pub mod spelling;
mod suggestions;

pub use capability::{
    CapabilityLookup, CapabilityTable, Found, InstanceTypeInfo, PlacementGroup, PlacementGroups,
    Provenance, RegionOfferings, SecurityGroup, SecurityGroupRef, SecurityGroups, SourceKind,
    ZoneNames,
};
pub use field_error::{FieldError, FieldErrorKind, FieldPath};
pub use object::TargetKind;
pub use rules::{check_as_create, mutate, validate};
pub use spelling::{InterfaceType, Spelling};
pub use suggestions::EfaIndex;

use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

impl Operation {
    /// Sorted by name, as the API server lists supported values.
    pub const ALL: [Operation; 4] = [
        Operation::Connect,
        Operation::Create,
        Operation::Delete,
        Operation::Update,
    ];

    /// The operation as an AdmissionRequest names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }

    /// The operation an AdmissionRequest names, if it is one the API has.
    pub fn from_api(name: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|op| op.as_str() == name)
    }
}

/// What to do with an EFA instance type the table does not know, or that the region
/// does not offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownInstanceType {
    Warn,
    Deny,
}

/// On an object, `"true"` turns the EFA capability denial into a warning, for the day
/// AWS launches a type before the table knows it. The spelling checks still apply.
pub const SKIP_CAPABILITY_CHECK_ANNOTATION: &str = "machine-efa-webhook.io/skip-capability-check";

/// The operator's choices that shape every decision.
#[derive(Clone, Debug)]
pub struct Policy {
    pub spelling: Spelling,
    pub unknown_instance_type: UnknownInstanceType,
    /// The region assumed when `placement.region` is not set.
    pub default_region: String,
}

/// The parts of an AdmissionRequest the decision reads.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub group: &'a str,
    pub version: &'a str,
    pub kind: &'a str,
    pub operation: Operation,
    pub object: Option<&'a Value>,
    pub old_object: Option<&'a Value>,
    /// Cluster API only: the region of the owning AWSCluster, when it is known.
    pub cluster_region: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// A CREATE of `object`, for objects judged outside an admission (`check`, `audit`).
    pub fn create(kind: TargetKind, object: &'a Value, cluster_region: Option<&'a str>) -> Self {
        let (group, version, kind) = kind.gvk();
        Request {
            group,
            version,
            kind,
            operation: Operation::Create,
            object: Some(object),
            old_object: None,
            cluster_region,
        }
    }
}

/// The outcome. A denial is data: `errors` is non-empty.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decision {
    pub patch: json_patch::Patch,
    pub errors: Vec<FieldError>,
    pub warnings: Vec<String>,
    /// A capability denial was turned into a warning by the skip annotation: to be
    /// logged and counted.
    pub capability_check_skipped: bool,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        self.errors.is_empty()
    }

    /// Every warning cut to what Kubernetes passes on whole.
    fn bound_warnings(mut self) -> Self {
        self.warnings = self
            .warnings
            .into_iter()
            .map(field_error::bounded_warning)
            .collect();
        self
    }

    fn denied(error: FieldError) -> Self {
        Decision {
            errors: vec![error],
            ..Decision::default()
        }
    }
}

#[cfg(test)]
mod tests;
