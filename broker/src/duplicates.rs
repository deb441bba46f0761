//! Names a request lists more than once: Kafka answers each such name once with an error and
//! acts on none of its occurrences (DeleteTopics, CreatePartitions).

use std::collections::{HashMap, HashSet};

/// Keeps the first occurrence of each value that appears exactly once; calls `duplicate` once
/// for each value that appears more than once (all its occurrences are dropped).
pub fn drop_duplicates<T: Eq + std::hash::Hash + Clone>(values: Vec<T>, mut duplicate: impl FnMut(&T)) -> Vec<T> {
    let mut counts: HashMap<T, usize> = HashMap::new();
    for value in &values {
        *counts.entry(value.clone()).or_default() += 1;
    }
    let mut reported = HashSet::new();
    let mut unique = Vec::new();
    for value in values {
        if counts.get(&value).copied().unwrap_or(0) > 1 {
            if reported.insert(value.clone()) {
                duplicate(&value);
            }
        } else {
            unique.push(value);
        }
    }
    unique
}
