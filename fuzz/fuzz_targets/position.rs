//! The board-order key generator: for any two strings it never panics and always returns a
//! valid key; between valid keys the result sorts strictly between them (byte order), and
//! stays short.

#![no_main]

use flowtrack_store::services::position::{between, is_valid};
use libfuzzer_sys::fuzz_target;

const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Turns bytes into a valid key (digits only, no trailing `0`), or `None` when empty.
fn key_from(bytes: &[u8]) -> Option<String> {
    let mut key: String = bytes
        .iter()
        .map(|b| DIGITS[usize::from(*b) % DIGITS.len()] as char)
        .collect();
    while key.ends_with('0') {
        key.pop();
    }
    (!key.is_empty()).then_some(key)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let split = rest.iter().position(|&b| b == 0xff).unwrap_or(rest.len());
    let (a, b) = (&rest[..split], rest.get(split + 1..).unwrap_or(&[]));
    let (lo, hi) = if mode & 1 == 0 {
        // Arbitrary strings (lossy UTF-8): anything at all must be survivable.
        let lo = (mode & 2 == 0).then(|| String::from_utf8_lossy(a).into_owned());
        let hi = (mode & 4 == 0).then(|| String::from_utf8_lossy(b).into_owned());
        (lo, hi)
    } else {
        // Valid keys, in order: the interesting case.
        let (mut lo, mut hi) = (key_from(a), key_from(b));
        if mode & 2 != 0 {
            lo = None;
        }
        if mode & 4 != 0 {
            hi = None;
        }
        if let (Some(l), Some(h)) = (&lo, &hi) {
            if l == h {
                hi = None;
            } else if l > h {
                std::mem::swap(&mut lo, &mut hi);
            }
        }
        (lo, hi)
    };

    let key = between(lo.as_deref(), hi.as_deref());
    assert!(is_valid(&key), "invalid key {key:?} for {lo:?}..{hi:?}");
    let lo_valid = lo.as_deref().filter(|k| is_valid(k));
    let hi_valid = hi.as_deref().filter(|k| is_valid(k));
    if let Some(l) = lo_valid {
        assert!(l < key.as_str(), "{key:?} is not after {l:?}");
    }
    if let (Some(h), true) = (hi_valid, lo_valid.is_none_or(|l| Some(l) < hi_valid)) {
        assert!(key.as_str() < h, "{key:?} is not before {h:?}");
    }
    let longest = lo_valid
        .map_or(0, str::len)
        .max(hi_valid.map_or(0, str::len));
    assert!(
        key.len() <= 2 * longest + 8,
        "key {key:?} ({} chars) too long for neighbours of {longest}",
        key.len()
    );
});
