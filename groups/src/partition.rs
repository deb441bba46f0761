//! Which partition of `__consumer_offsets` holds a group: Kafka's
//! `Utils.abs(groupId.hashCode()) % offsets.topic.num.partitions`, with Java's `String.hashCode`.

/// Java's `String.hashCode`: `s[0]*31^(n-1) + ... + s[n-1]` over UTF-16 code units, wrapping.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |hash, unit| hash.wrapping_mul(31).wrapping_add(i32::from(unit)))
}

/// The `__consumer_offsets` partition of `group_id` when the topic has `partitions` partitions.
/// `partitions` must be positive (it comes from the broker's config, not from a client).
pub fn offsets_partition_for(group_id: &str, partitions: i32) -> i32 {
    assert!(partitions > 0, "offsets.topic.num.partitions must be positive");
    // Kafka's Utils.abs maps i32::MIN to 0 rather than overflowing.
    let hash = java_string_hash(group_id);
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_java_hash_code() {
        // Values computed with java.lang.String#hashCode.
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        assert_eq!(java_string_hash("my-group"), -1_906_497_762);
        // "polygenelubricants" is the classic string whose hashCode is Integer.MIN_VALUE.
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        assert_eq!(offsets_partition_for("polygenelubricants", 50), 0);
        // A code point outside the BMP hashes as its two UTF-16 surrogates.
        assert_eq!(java_string_hash("\u{1F600}"), 0xD83D * 31 + 0xDE00);
    }

    #[test]
    fn partition_in_range() {
        for id in ["", "a", "group-1", "consumer-group-with-a-long-name", "ü"] {
            let p = offsets_partition_for(id, 50);
            assert!((0..50).contains(&p), "{id} -> {p}");
        }
        assert_eq!(offsets_partition_for("hello", 50), 99_162_322 % 50);
    }
}
