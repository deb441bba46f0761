//! glibc's malloc arenas. glibc gives a thread that finds the arenas busy one of its own, up to
//! eight per CPU, and keeps what is freed in an arena resident for reuse there. The runtime's
//! blocking sections (`block_in_place`) hand the runtime to other threads, so over a run the
//! broker's allocations spread over many arenas and its resident memory grows with their count
//! (a share-group read, W9-share: peak RSS 129 MiB with glibc's default, 49 MiB with one arena).
//! At start-up, before any other thread exists, the broker caps them at one per CPU it may run on,
//! unless `MALLOC_ARENA_MAX` already set the cap.

// `mallopt` is an FFI call; this is the one module of strata-broker allowed to make it.
#![allow(unsafe_code)]

/// The environment variable with which glibc users set the cap themselves.
const ARENA_MAX_VARIABLE: &str = "MALLOC_ARENA_MAX";

/// Caps glibc's malloc arenas at one per CPU this process may run on. Returns the cap set, or
/// `None` when the environment sets it or the C library is not glibc. Call it first in `main`.
pub fn cap_per_cpu() -> Option<usize> {
    if std::env::var_os(ARENA_MAX_VARIABLE).is_some() {
        return None;
    }
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    set_arena_max(cpus).then_some(cpus)
}

#[cfg(target_env = "gnu")]
fn set_arena_max(arenas: usize) -> bool {
    let arenas = libc::c_int::try_from(arenas).unwrap_or(libc::c_int::MAX);
    // SAFETY: `mallopt` only changes a malloc tuning parameter; it takes no pointers.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) == 1 }
}

#[cfg(not(target_env = "gnu"))]
fn set_arena_max(_arenas: usize) -> bool {
    false
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_cap_is_one_arena_per_cpu_unless_the_environment_sets_it() {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let expected = match std::env::var_os(super::ARENA_MAX_VARIABLE) {
            Some(_) => None,
            None if cfg!(target_env = "gnu") => Some(cpus),
            None => None,
        };
        assert_eq!(super::cap_per_cpu(), expected);
    }
}
