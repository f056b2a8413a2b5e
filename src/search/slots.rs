//! Which of Redis Cluster's 16384 hash slots a document's key is in, how many documents each
//! slot holds in an index, and sets of slots. Pure: the slot function is the cluster
//! specification's (CRC16/XMODEM of the key, or of its `{hash tag}`, modulo 16384), so the
//! engine can tell a shard's own documents from others without asking the server per key.
//!
//! Why an index counts its documents per slot: while slots move between masters, a shard can
//! hold documents of slots it does not own (keys restored on the target before the slot is
//! handed over, copies left on the source). A shard's part of a cluster search must skip them,
//! or the cluster counts them twice. The counts make the common case free: a shard checks,
//! once per query, whether any slot it does not own has documents (16384 counters), and only
//! then narrows the search to the keys of its own slots.

use crc::{Crc, CRC_16_XMODEM};

pub const SLOTS: usize = 16384;

const CRC16: Crc<u16> = Crc::<u16>::new(&CRC_16_XMODEM);

/// The hash slot of `key`: the part between the first `{` and the next `}` when that part is
/// not empty, else the whole key.
pub fn key_slot(key: &[u8]) -> u16 {
    let hashed = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(key);
    CRC16.checksum(hashed) & (SLOTS as u16 - 1)
}

/// The slot of every key that starts with `prefix`, when the prefix alone decides it: it holds
/// a whole, non-empty hash tag (`{rag}chunk:`). `None` when the rest of the key decides.
pub fn prefix_slot(prefix: &[u8]) -> Option<u16> {
    let open = prefix.iter().position(|&b| b == b'{')?;
    let close = prefix[open + 1..].iter().position(|&b| b == b'}')?;
    (close > 0).then(|| key_slot(prefix))
}

/// A set of slots (a 2 KiB bitmap).
#[derive(Clone, PartialEq, Eq)]
pub struct SlotSet(Box<[u64; SLOTS / 64]>);

impl Default for SlotSet {
    fn default() -> Self {
        SlotSet(Box::new([0; SLOTS / 64]))
    }
}

impl std::fmt::Debug for SlotSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SlotSet({} slots)", self.len())
    }
}

impl SlotSet {
    /// The slots of the inclusive ranges `(start, end)`; ranges out of 0..16384 are clipped.
    pub fn from_ranges(ranges: impl IntoIterator<Item = (i64, i64)>) -> SlotSet {
        let mut set = SlotSet::default();
        for (start, end) in ranges {
            let start = start.max(0);
            let end = end.min(SLOTS as i64 - 1);
            for slot in start..=end {
                set.insert(slot as u16);
            }
        }
        set
    }

    pub fn insert(&mut self, slot: u16) {
        let s = slot as usize % SLOTS;
        self.0[s / 64] |= 1 << (s % 64);
    }

    pub fn contains(&self, slot: u16) -> bool {
        let s = slot as usize % SLOTS;
        self.0[s / 64] & (1 << (s % 64)) != 0
    }

    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How many of an index's documents each slot holds. The counters are allocated with the
/// first document (64 KiB), so an empty index costs nothing.
#[derive(Default)]
pub struct SlotTally(Option<Box<[u32]>>);

impl SlotTally {
    pub fn add(&mut self, key: &[u8]) {
        let counts = self
            .0
            .get_or_insert_with(|| vec![0; SLOTS].into_boxed_slice());
        let c = &mut counts[key_slot(key) as usize];
        *c = c.saturating_add(1);
    }

    pub fn remove(&mut self, key: &[u8]) {
        if let Some(counts) = &mut self.0 {
            let c = &mut counts[key_slot(key) as usize];
            *c = c.saturating_sub(1);
        }
    }

    /// How many documents are in slots outside `owned`.
    pub fn outside(&self, owned: &SlotSet) -> u64 {
        let Some(counts) = &self.0 else { return 0 };
        counts
            .iter()
            .enumerate()
            .filter(|(slot, &n)| n > 0 && !owned.contains(*slot as u16))
            .map(|(_, &n)| n as u64)
            .sum()
    }

    pub fn bytes(&self) -> usize {
        self.0.as_ref().map_or(0, |c| c.len() * 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_the_cluster_specifications() {
        // Values from CLUSTER KEYSLOT on Redis 7.0.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"doc:1"), key_slot(b"doc:1"));
        assert_eq!(key_slot(b"123456789"), 0x31C3 & 16383);
        // A hash tag hashes its content only; an empty one hashes the whole key.
        assert_eq!(key_slot(b"{user1}:x"), key_slot(b"user1"));
        assert_eq!(key_slot(b"a{user1}b{c}"), key_slot(b"user1"));
        assert_eq!(key_slot(b"{}x"), CRC16.checksum(b"{}x") & 16383);
        assert_eq!(key_slot(b"x{y"), CRC16.checksum(b"x{y") & 16383);
        assert_eq!(key_slot(b""), 0);
    }

    #[test]
    fn a_prefix_decides_the_slot_only_with_a_whole_hash_tag() {
        assert_eq!(prefix_slot(b"{rag}chunk:"), Some(key_slot(b"rag")));
        assert_eq!(prefix_slot(b"a:{rag}:"), Some(key_slot(b"rag")));
        assert_eq!(prefix_slot(b"doc:"), None);
        assert_eq!(prefix_slot(b""), None);
        // The tag would end in the key's own part, or is empty (the whole key is hashed).
        assert_eq!(prefix_slot(b"{rag"), None);
        assert_eq!(prefix_slot(b"{}x"), None);
    }

    #[test]
    fn a_tally_counts_documents_outside_the_owned_slots() {
        let mut t = SlotTally::default();
        assert_eq!(t.outside(&SlotSet::default()), 0);
        assert_eq!(t.bytes(), 0);
        t.add(b"foo");
        t.add(b"{foo}:2");
        t.add(b"bar");
        let mine = SlotSet::from_ranges([(5000, 5100)]);
        assert!(mine.contains(5061) && !mine.contains(12182) && mine.len() == 101);
        assert_eq!(t.outside(&mine), 2);
        t.remove(b"foo");
        t.remove(b"{foo}:2");
        assert_eq!(t.outside(&mine), 0);
        t.remove(b"foo");
        assert_eq!(t.outside(&SlotSet::default()), 1);
        assert_eq!(SlotSet::from_ranges([(-5, 3), (16380, 20000)]).len(), 8);
    }
}
