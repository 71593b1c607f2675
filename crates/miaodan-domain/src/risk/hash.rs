//! The hashing of risk's maps: a keyed folded multiply per word (the construction of foldhash
//! and of aHash's portable fallback), a few nanoseconds where the standard library's SipHash
//! takes tens — and a tap looks up about fifteen keys.
//!
//! Why keyed at all: the keys are chosen by clients (a device id, an address), and an unkeyed
//! fast hash would let a script pick ids that land in one bucket and slow the shard down for
//! everyone. The shell draws the key once per process ([`RiskHashKey`], from the operating
//! system's randomness); the core never reads randomness itself. This is not a cryptographic
//! MAC: it keeps the bucket a key lands in unknowable from outside, which is what a hash map
//! needs (SipHash's margin is for more than that).

use std::hash::{BuildHasher, Hasher};

/// The per-process secret of risk's maps. [`RiskHashKey::FIXED`] is for tests and benchmarks
/// only: a server draws its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RiskHashKey {
    pub seed: u64,
    pub multiplier: u64,
}

impl RiskHashKey {
    /// A known key: reproducible, so not for a server facing clients.
    pub const FIXED: RiskHashKey = RiskHashKey {
        seed: 0x243f_6a88_85a3_08d3,
        multiplier: 0x1319_8a2e_0370_7344,
    };

    /// The key made of 16 random bytes (the shell's draw).
    pub fn from_bytes(bytes: [u8; 16]) -> RiskHashKey {
        let (seed, multiplier) = bytes.split_at(8);
        let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
        RiskHashKey {
            seed: word(seed),
            multiplier: word(multiplier),
        }
    }
}

impl Default for RiskHashKey {
    fn default() -> Self {
        RiskHashKey::FIXED
    }
}

/// The golden ratio's bits: mixed into the secret multiplier so that it is never small or even.
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// The 128-bit product of `x` and `y`, its halves folded together: every input bit reaches
/// every output bit.
fn folded_multiply(x: u64, y: u64) -> u64 {
    let product = u128::from(x) * u128::from(y);
    (product as u64) ^ ((product >> 64) as u64)
}

/// Builds [`RiskHasher`]s under one key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RiskHashing {
    key: RiskHashKey,
}

impl RiskHashing {
    pub fn new(key: RiskHashKey) -> RiskHashing {
        RiskHashing { key }
    }
}

impl BuildHasher for RiskHashing {
    type Hasher = RiskHasher;

    fn build_hasher(&self) -> RiskHasher {
        RiskHasher {
            state: self.key.seed,
            multiplier: (self.key.multiplier ^ GOLDEN) | 1,
        }
    }
}

/// One key's hash in progress: each word written is folded into the state.
#[derive(Clone, Copy, Debug)]
pub struct RiskHasher {
    state: u64,
    multiplier: u64,
}

impl Hasher for RiskHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            // The length goes in with the last word: "ab" and "ab\0" differ.
            let tagged = u64::from_le_bytes(word) ^ ((chunk.len() as u64) << 59);
            self.write_u64(tagged);
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.state = folded_multiply(self.state ^ i, self.multiplier);
    }

    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }

    fn finish(&self) -> u64 {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hash;

    fn hash_of<T: Hash + ?Sized>(key: RiskHashKey, value: &T) -> u64 {
        RiskHashing::new(key).hash_one(value)
    }

    #[test]
    fn one_key_hashes_a_value_the_same_way_every_time() {
        assert_eq!(
            hash_of(RiskHashKey::FIXED, &42_u64),
            hash_of(RiskHashKey::FIXED, &42_u64)
        );
        assert_ne!(
            hash_of(RiskHashKey::FIXED, &42_u64),
            hash_of(RiskHashKey::FIXED, &43_u64)
        );
    }

    #[test]
    fn another_key_puts_the_same_values_in_other_buckets() {
        let other = RiskHashKey::from_bytes(*b"0123456789abcdef");
        let buckets = |key| (0..64_u64).map(|v| hash_of(key, &v) & 1023).collect::<Vec<u64>>();
        assert_ne!(buckets(RiskHashKey::FIXED), buckets(other));
    }

    #[test]
    fn consecutive_ids_spread_over_the_buckets_by_low_and_by_high_bits() {
        // Buyer ids count up. The map picks a bucket by the low bits and tags it by the high
        // ones: 4 096 ids in 4 096 buckets leave about 1/e ≈ 37 % (1 507) empty when spread at
        // random — fewer is an even spread — and all but a few empty when a hash keeps their
        // order in those bits.
        let (mut low, mut high) = (vec![false; 4096], vec![false; 4096]);
        for id in 0..4096_i64 {
            let hash = hash_of(RiskHashKey::FIXED, &id);
            low[(hash & 4095) as usize] = true;
            high[(hash >> 52) as usize] = true;
        }
        for used in [low, high] {
            let empty = used.iter().filter(|u| !**u).count();
            assert!(empty < 1_800, "{empty} empty buckets");
        }
    }

    #[test]
    fn bytes_of_different_lengths_hash_apart() {
        assert_ne!(
            hash_of(RiskHashKey::FIXED, &[1_u8, 2][..]),
            hash_of(RiskHashKey::FIXED, &[1_u8, 2, 0][..])
        );
    }
}
