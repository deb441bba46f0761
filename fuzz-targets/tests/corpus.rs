//! Replays every committed input of every fuzz target (`fuzz/corpus/<target>/*`) on stable Rust,
//! as the test command's fuzzing step does before it fuzzes: no input may panic, and none may
//! make its target allocate more than `allocation_bound` beyond what was live before the call.
//! One test runs the targets one after another, so the allocation counter sees one call at a time.
#![allow(unsafe_code)] // the counting global allocator below

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use strata_fuzz_targets as targets;

/// The system allocator, counting live bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` with the caller's layout and pointer unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A target's name (its corpus directory) and its body.
type Target = (&'static str, fn(&[u8]));

/// Every target.
const TARGETS: &[Target] = &[
    ("request_frame", targets::request_frame),
    ("record_batches", targets::record_batches),
    ("log_recovery", targets::log_recovery),
    ("offsets_replay", targets::offsets_replay),
    ("request_dispatch", targets::request_dispatch),
];

#[test]
fn every_corpus_input_of_every_target_runs_within_its_allocation_bound() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for (name, target) in TARGETS {
        let dir = corpus.join(name);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("corpus entry").path())
            .collect();
        inputs.sort();
        // Shared state a target sets up once (the dispatch target's broker) is not the input's.
        target(&[]);
        assert!(inputs.len() >= 5, "{name}: a corpus of at least 5 inputs ({} found)", inputs.len());
        for input in inputs {
            let data = std::fs::read(&input).expect("read corpus input");
            let before = LIVE.load(Ordering::Relaxed);
            PEAK.store(before, Ordering::Relaxed);
            target(&data);
            let used = PEAK.load(Ordering::Relaxed).saturating_sub(before);
            let bound = targets::allocation_bound(data.len());
            assert!(used <= bound, "{name} {}: allocated {used} bytes, bound {bound}", input.display());
        }
    }
}
