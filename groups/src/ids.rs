//! Member id generation, injected so that the coordinator holds no randomness of its own.
//!
//! Kafka names a member `<client.id>-<uuid>` (or `<group.instance.id>-<uuid>` for a static member).
//! [`SeededMemberIds`] produces the same shape from a seeded SplitMix64 sequence, so a test (or a
//! simulation) with the same seed sees the same ids; the broker seeds it from its own entropy.

/// A source of fresh member ids. Each call must return an id never returned before.
pub trait MemberIdSource: Send {
    /// A new member id starting with `prefix` (the client id, or the group instance id).
    fn next_member_id(&mut self, prefix: &str) -> String;
}

/// `prefix-xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx` from a SplitMix64 stream.
#[derive(Debug, Clone)]
pub struct SeededMemberIds {
    state: u64,
}

impl SeededMemberIds {
    /// A generator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        SeededMemberIds { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        // SplitMix64 (Steele, Lea, Flood 2014): a full-period 64-bit sequence, so ids never repeat
        // within 2^64 calls.
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl MemberIdSource for SeededMemberIds {
    fn next_member_id(&mut self, prefix: &str) -> String {
        let high = self.next_u64();
        let low = self.next_u64();
        // Version 4 and variant bits, so the suffix reads as the UUID Kafka would have made.
        let high = (high & !0xF000) | 0x4000;
        let low = (low & !(0xC000 << 48)) | (0x8000 << 48);
        format!(
            "{prefix}-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            high >> 32,
            (high >> 16) & 0xFFFF,
            high & 0xFFFF,
            low >> 48,
            low & 0xFFFF_FFFF_FFFF
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_ids_and_uuid_shape() {
        let mut a = SeededMemberIds::new(7);
        let mut b = SeededMemberIds::new(7);
        let first = a.next_member_id("client");
        assert_eq!(first, b.next_member_id("client"));
        assert_ne!(first, a.next_member_id("client"));
        let suffix = first.strip_prefix("client-").unwrap();
        let parts: Vec<&str> = suffix.split('-').collect();
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
        assert!(parts[2].starts_with('4'));
        assert!(matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
    }
}
