//! An API's key and the versions the broker serves of it, as each handler declares them once (its
//! `API` constant). [`crate::dispatch`] collects those declarations into the one table from which
//! the version check, the route and ApiVersions are all built.

use kafka_protocol::messages::ApiKey;

/// An API the broker serves and the versions it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiSpec {
    pub key: ApiKey,
    /// Kafka 4.1's oldest version.
    pub min: i16,
    /// Kafka 4.1's newest version (or older, where the `kafka-protocol` crate cannot decode it).
    pub max: i16,
    /// The oldest version served with `strata.legacy.protocol.enable` (Kafka 3.9's oldest); equal
    /// to `min` for an API Kafka 4 did not cut down.
    pub legacy_min: i16,
}

impl ApiSpec {
    /// An API served at `min..=max`, with or without `strata.legacy.protocol.enable`.
    pub const fn new(key: ApiKey, min: i16, max: i16) -> ApiSpec {
        assert!(0 <= min && min <= max, "an API's versions are a non-empty range from 0 up");
        ApiSpec { key, min, max, legacy_min: min }
    }

    /// The same API whose versions `legacy_min..min` Kafka 4 removed and Strata serves when
    /// `strata.legacy.protocol.enable` is on (decoded and encoded by `strata_wire::legacy`).
    pub const fn with_legacy_min(self, legacy_min: i16) -> ApiSpec {
        assert!(0 <= legacy_min && legacy_min < self.min, "legacy versions come before Kafka 4.1's oldest");
        ApiSpec { legacy_min, ..self }
    }

    /// The oldest version accepted, with or without the legacy versions.
    pub fn min_version(&self, legacy: bool) -> i16 {
        if legacy { self.legacy_min } else { self.min }
    }

    /// Whether `version` is accepted.
    pub fn accepts(&self, version: i16, legacy: bool) -> bool {
        (self.min_version(legacy)..=self.max).contains(&version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_versions_are_accepted_only_with_the_setting() {
        let spec = ApiSpec::new(ApiKey::Fetch, 4, 18).with_legacy_min(0);
        assert!(!spec.accepts(3, false) && spec.accepts(3, true));
        assert!(spec.accepts(4, false) && spec.accepts(18, false) && !spec.accepts(19, true));
        assert_eq!((spec.min_version(false), spec.min_version(true)), (4, 0));
        let plain = ApiSpec::new(ApiKey::Metadata, 0, 13);
        assert_eq!(plain.min_version(true), 0);
        assert!(!plain.accepts(-1, true));
    }
}
