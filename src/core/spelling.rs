//! The two spellings of `networkInterfaceType` and which one this cluster accepts.

/// What the value means, whatever its spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterfaceType {
    /// The standard interface (ENA).
    Standard,
    /// The Elastic Fabric Adapter.
    Efa,
}

/// Which spelling is canonical; the other one is accepted as an alias by `/mutate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spelling {
    /// `ENA` / `EFA`, as openshift/api ships the field.
    OpenShift,
    /// `interface` / `efa`, as the enhancement proposal, Cluster API AWS and EC2 spell it.
    Proposal,
}

/// How a given string relates to the configured spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    Canonical(InterfaceType),
    Alias(InterfaceType),
    Unknown,
}

impl Spelling {
    pub fn canonical(self, interface: InterfaceType) -> &'static str {
        match (self, interface) {
            (Spelling::OpenShift, InterfaceType::Standard) => "ENA",
            (Spelling::OpenShift, InterfaceType::Efa) => "EFA",
            (Spelling::Proposal, InterfaceType::Standard) => "interface",
            (Spelling::Proposal, InterfaceType::Efa) => "efa",
        }
    }

    fn other(self) -> Spelling {
        match self {
            Spelling::OpenShift => Spelling::Proposal,
            Spelling::Proposal => Spelling::OpenShift,
        }
    }

    /// The canonical values, sorted as the API server lists supported values.
    pub fn supported_values(self) -> [&'static str; 2] {
        let mut values = [
            self.canonical(InterfaceType::Efa),
            self.canonical(InterfaceType::Standard),
        ];
        values.sort_unstable();
        values
    }

    pub fn read(self, value: &str) -> Reading {
        for interface in [InterfaceType::Standard, InterfaceType::Efa] {
            if value == self.canonical(interface) {
                return Reading::Canonical(interface);
            }
            if value == self.other().canonical(interface) {
                return Reading::Alias(interface);
            }
        }
        Reading::Unknown
    }

    /// The canonical value a mistyped one most likely meant: an alias, or a
    /// canonical value typed in another case (`ena`, `Efa`).
    pub fn likely_meant(self, value: &str) -> Option<&'static str> {
        [InterfaceType::Standard, InterfaceType::Efa]
            .into_iter()
            .find(|&interface| {
                value.eq_ignore_ascii_case(self.canonical(interface))
                    || value.eq_ignore_ascii_case(self.other().canonical(interface))
            })
            .map(|interface| self.canonical(interface))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_spelling_reads_the_other_as_alias() {
        let cases = [
            (
                Spelling::OpenShift,
                "ENA",
                Reading::Canonical(InterfaceType::Standard),
            ),
            (
                Spelling::OpenShift,
                "EFA",
                Reading::Canonical(InterfaceType::Efa),
            ),
            (
                Spelling::OpenShift,
                "interface",
                Reading::Alias(InterfaceType::Standard),
            ),
            (
                Spelling::OpenShift,
                "efa",
                Reading::Alias(InterfaceType::Efa),
            ),
            (Spelling::OpenShift, "ena", Reading::Unknown),
            (
                Spelling::Proposal,
                "interface",
                Reading::Canonical(InterfaceType::Standard),
            ),
            (
                Spelling::Proposal,
                "efa",
                Reading::Canonical(InterfaceType::Efa),
            ),
            (
                Spelling::Proposal,
                "ENA",
                Reading::Alias(InterfaceType::Standard),
            ),
            (
                Spelling::Proposal,
                "EFA",
                Reading::Alias(InterfaceType::Efa),
            ),
            (Spelling::Proposal, "efa-only", Reading::Unknown),
        ];
        for (spelling, value, expected) in cases {
            assert_eq!(spelling.read(value), expected, "{spelling:?} {value}");
        }
    }

    #[test]
    fn supported_values_are_sorted() {
        assert_eq!(Spelling::OpenShift.supported_values(), ["EFA", "ENA"]);
        assert_eq!(Spelling::Proposal.supported_values(), ["efa", "interface"]);
    }

    #[test]
    fn likely_meant_covers_aliases_and_case() {
        assert_eq!(Spelling::OpenShift.likely_meant("efa"), Some("EFA"));
        assert_eq!(Spelling::OpenShift.likely_meant("Ena"), Some("ENA"));
        assert_eq!(Spelling::OpenShift.likely_meant("INTERFACE"), Some("ENA"));
        assert_eq!(Spelling::OpenShift.likely_meant("foo"), None);
    }
}
