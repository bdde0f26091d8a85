//! The maps looked up on every call by host (the recorder's host table, the pool's
//! destinations): their key, `scheme://authority`, and their hasher, FNV-1a (SipHash hashes such
//! short keys several times slower). It is not HashDoS-resistant: the keys are hosts the
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

/// `f` of the key `scheme://authority`, built on the stack: no allocation per call (a key over
/// 256 bytes is built on the heap).
pub(crate) fn with_host_key<R>(scheme: &str, authority: &str, f: impl FnOnce(&str) -> R) -> R {
    let mut buf = [0u8; 256];
    let Some(key) = buf.get_mut(..scheme.len() + 3 + authority.len()) else {
        return f(&format!("{scheme}://{authority}"));
    };
    let (head, rest) = key.split_at_mut(scheme.len());
    head.copy_from_slice(scheme.as_bytes());
    rest[..3].copy_from_slice(b"://");
    rest[3..].copy_from_slice(authority.as_bytes());
    // Copied from two `&str`s and an ASCII separator: always UTF-8.
    match std::str::from_utf8(key) {
        Ok(key) => f(key),
        Err(_) => f(&format!("{scheme}://{authority}")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_keys_are_scheme_and_authority_short_or_long() {
        assert_eq!(
            super::with_host_key("http", "a:1", str::to_owned),
            "http://a:1"
        );
        let long = "h".repeat(300);
        assert_eq!(
            super::with_host_key("https", &long, str::to_owned),
            format!("https://{long}")
        );
    }
}
