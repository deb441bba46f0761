//! The process's open-file limit. Every connection holds a socket and every partition segment
//! files, and the usual soft limit (1024) is far below `max.connections`; like most servers, the
//! broker raises its soft `RLIMIT_NOFILE` to the hard limit at start-up.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

use crate::settings::Settings;

/// Descriptors kept for the broker's own files (segments, indexes, metadata) beside connections.
const FILES_BESIDES_CONNECTIONS: u64 = 1024;

/// The open-file limit `max.connections` connections need, with the broker's own files.
pub fn needed_for(settings: &Settings) -> u64 {
    u64::try_from(settings.max_connections).unwrap_or(u64::MAX).saturating_add(FILES_BESIDES_CONNECTIONS)
}

/// Raises the soft open-file limit to the hard one and returns the limit now in force.
pub fn raise_to_hard_limit() -> nix::Result<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(getrlimit(Resource::RLIMIT_NOFILE)?.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_soft_limit_ends_at_the_hard_limit() {
        let limit = super::raise_to_hard_limit().expect("raise");
        let (soft, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).expect("get");
        assert_eq!((limit, soft), (hard, hard));
    }
}
