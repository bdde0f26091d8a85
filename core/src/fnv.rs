//! FNV-1a, the hasher of the maps looked up on every call by host (the recorder's host table,
//! the pool's destinations). Their keys are short `scheme://authority` strings, which SipHash
//! hashes several times slower. It is not HashDoS-resistant: the keys are hosts the
//! application itself calls, and both maps stay small (the host table is capped, the pool
//! drops destinations that have no connections left).

/// The `BuildHasher` to give such a map.
pub(crate) type FnvBuildHasher = std::hash::BuildHasherDefault<Fnv>;

#[derive(Default)]
pub(crate) struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
