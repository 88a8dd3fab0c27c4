//! Board order as fractional-index keys: a move writes only the moved task's key.
//!
//! A key is a non-empty string over the 62 ASCII digits `0-9A-Za-z` (in byte order) that
//! never ends in `0`. Read as a base-62 fraction `0.d1d2d3…`, byte order of keys equals
//! numeric order, and between any two keys there is always another.
//!
//! The naive choice — the midpoint — makes keys grow by one character every ~6 moves into
//! the same gap. Real boards insert in patterns: at the end of a column, at the top, or
//! repeatedly right after the same card. So [`between`] steps one unit away from the
//! *longer* neighbour (the one most recently generated) at the shortest length that fits,
//! and when a length is used up it lengthens by a growing amount, so every exhaustion buys
//! exponentially more room: thousands of moves into one gap keep keys a few characters long
//! (see the tests).

use std::cmp::Ordering;

const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BASE: u8 = 62;

fn digit_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'Z' => Some(c - b'A' + 10),
        b'a'..=b'z' => Some(c - b'a' + 36),
        _ => None,
    }
}

/// True for a well-formed key (used to validate keys read back and in tests).
pub fn is_valid(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|c| digit_value(c).is_some()) && !key.ends_with('0')
}

fn to_digits(key: &str) -> Vec<u8> {
    key.bytes().filter_map(digit_value).collect()
}

fn to_key(digits: &[u8]) -> String {
    digits.iter().map(|&d| DIGITS[d as usize] as char).collect()
}

/// Compares two digit strings as fractions (missing digits are zeros).
fn cmp_fraction(a: &[u8], b: &[u8]) -> Ordering {
    let len = a.len().max(b.len());
    for i in 0..len {
        let (x, y) = (
            a.get(i).copied().unwrap_or(0),
            b.get(i).copied().unwrap_or(0),
        );
        match x.cmp(&y) {
            Ordering::Equal => continue,
            other => return other,
        }
    }
    Ordering::Equal
}

fn strip_trailing_zeros(mut digits: Vec<u8>) -> Vec<u8> {
    while digits.last() == Some(&0) {
        digits.pop();
    }
    digits
}

/// `anchor ± 1/62^len` (anchor padded with zeros to `len`), skipping values that would end
/// in `0` so the key keeps its length (and the room at that length); `None` on overflow
/// past 1 or underflow below 0.
fn step(anchor: &[u8], len: usize, up: bool) -> Option<Vec<u8>> {
    let mut digits: Vec<u8> = (0..len)
        .map(|i| anchor.get(i).copied().unwrap_or(0))
        .collect();
    loop {
        let mut i = len;
        loop {
            if i == 0 {
                return None;
            }
            i -= 1;
            if up {
                if digits[i] + 1 < BASE {
                    digits[i] += 1;
                    break;
                }
                digits[i] = 0;
            } else {
                if digits[i] > 0 {
                    digits[i] -= 1;
                    break;
                }
                digits[i] = BASE - 1;
            }
        }
        if digits.last() != Some(&0) {
            return Some(digits);
        }
    }
}

fn strictly_between(candidate: &[u8], lo: Option<&[u8]>, hi: Option<&[u8]>) -> bool {
    !candidate.is_empty()
        && lo.is_none_or(|lo| cmp_fraction(candidate, lo) == Ordering::Greater)
        && hi.is_none_or(|hi| cmp_fraction(candidate, hi) == Ordering::Less)
}

/// A key strictly between `lo` and `hi` (`None`: the start or end of the column).
///
/// `lo` must sort before `hi`; keys that are not valid are treated as absent (so a corrupt
/// neighbour can never make this loop forever).
pub fn between(lo: Option<&str>, hi: Option<&str>) -> String {
    let lo = lo.filter(|k| is_valid(k)).map(to_digits);
    let hi = hi.filter(|k| is_valid(k)).map(to_digits);
    let (lo, hi) = match (lo, hi) {
        (Some(l), Some(h)) if cmp_fraction(&l, &h) != Ordering::Less => (Some(l), None),
        pair => pair,
    };
    let (lo, hi) = (lo.as_deref(), hi.as_deref());

    // Step away from the longer neighbour, towards the other one.
    let (anchor, up, other_len): (&[u8], bool, usize) = match (lo, hi) {
        (None, None) => return "V".into(),
        (Some(l), None) => (l, true, 0),
        (None, Some(h)) => (h, false, 0),
        (Some(l), Some(h)) if h.len() > l.len() => (h, false, l.len()),
        (Some(l), Some(h)) => (l, true, h.len()),
    };

    let mut len = anchor.len().max(1);
    // How far the anchor already reaches past the other neighbour: each exhausted length
    // extends by more than the last, so room grows exponentially.
    let mut extension = anchor.len().saturating_sub(other_len).max(1);
    for _ in 0..64 {
        if let Some(candidate) = step(anchor, len, up)
            && strictly_between(&candidate, lo, hi)
        {
            return to_key(&candidate);
        }
        len += extension;
        extension = extension * 2 + 1;
    }
    midpoint(lo, hi)
}

/// The midpoint of two fractions, at the shortest length that lies strictly between them
/// (a fallback; `between` practically never needs it).
fn midpoint(lo: Option<&[u8]>, hi: Option<&[u8]>) -> String {
    let lo_digits = lo.unwrap_or(&[]);
    let hi_digits: &[u8] = hi.unwrap_or(&[]);
    let len = lo_digits.len().max(hi_digits.len()) + 1;
    // sum = lo + hi; an absent `hi` is 1 (the integer part).
    let mut sum = vec![0u16; len + 1];
    if hi.is_none() {
        sum[0] = 1;
    }
    for i in 0..len {
        let a = u16::from(lo_digits.get(i).copied().unwrap_or(0));
        let b = u16::from(hi_digits.get(i).copied().unwrap_or(0));
        sum[i + 1] = a + b;
    }
    for i in (1..=len).rev() {
        let carry = sum[i] / u16::from(BASE);
        sum[i] %= u16::from(BASE);
        sum[i - 1] += carry;
    }
    // halve
    let mut half = Vec::with_capacity(len + 1);
    let mut remainder = 0u16;
    for &d in &sum {
        let value = remainder * u16::from(BASE) + d;
        half.push((value / 2) as u8);
        remainder = value % 2;
    }
    half.push((remainder * u16::from(BASE) / 2) as u8);
    // half[0] is the integer part (0 for fractions below 1)
    let fraction = strip_trailing_zeros(half[1..].to_vec());
    to_key(&fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(lo: Option<&str>, hi: Option<&str>) -> String {
        let key = between(lo, hi);
        assert!(is_valid(&key), "{key:?} between {lo:?} and {hi:?}");
        if let Some(lo) = lo {
            assert!(lo < key.as_str(), "{lo} < {key}");
        }
        if let Some(hi) = hi {
            assert!(key.as_str() < hi, "{key} < {hi}");
        }
        key
    }

    #[test]
    fn byte_order_is_numeric_order() {
        assert!("0z" < "1");
        assert!("V" < "V1");
        assert!("Z" < "a");
        assert_eq!(
            cmp_fraction(&to_digits("V"), &to_digits("V1")),
            Ordering::Less
        );
    }

    #[test]
    fn simple_cases() {
        assert_eq!(check(None, None), "V");
        assert_eq!(check(Some("V"), None), "W");
        assert_eq!(check(None, Some("V")), "U");
        check(Some("a1"), Some("a2"));
        check(Some("a"), Some("a1"));
        check(Some("z"), None);
        check(None, Some("1"));
        check(None, Some("01"));
        check(Some("zzzz"), None);
    }

    /// Repeats `insert` and returns the longest key produced.
    fn longest_after(moves: usize, mut insert: impl FnMut(&mut Vec<String>)) -> usize {
        let mut column = vec!["V".to_string()];
        for _ in 0..moves {
            insert(&mut column);
        }
        let mut sorted = column.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), column.len(), "keys stay distinct");
        column.iter().map(String::len).max().unwrap_or(0)
    }

    #[test]
    fn appending_and_prepending_stay_short() {
        let appended = longest_after(10_000, |col| {
            let last = col.iter().max().cloned();
            col.push(check(last.as_deref(), None));
        });
        eprintln!("longest key after 10 000 appends: {appended}");
        assert!(appended <= 8, "append: {appended}");
        let prepended = longest_after(10_000, |col| {
            let first = col.iter().min().cloned();
            col.push(check(None, first.as_deref()));
        });
        assert!(prepended <= 8, "prepend: {prepended}");
    }

    #[test]
    fn repeated_moves_into_the_same_gap_stay_short() {
        // Always directly after the same card (between it and the card moved last time).
        let fixed_lo = longest_after(5_000, |col| {
            let mut sorted = col.clone();
            sorted.sort();
            let lo = sorted[0].clone();
            let hi = sorted.get(1).cloned();
            col.push(check(Some(&lo), hi.as_deref()));
        });
        eprintln!("longest key after 5 000 moves right after one card: {fixed_lo}");
        assert!(fixed_lo <= 12, "after the same card: {fixed_lo}");
        // Always directly before the same card.
        let fixed_hi = longest_after(5_000, |col| {
            let mut sorted = col.clone();
            sorted.sort();
            let hi = sorted[sorted.len() - 1].clone();
            let lo = sorted.len().checked_sub(2).map(|i| sorted[i].clone());
            col.push(check(lo.as_deref(), Some(&hi)));
        });
        eprintln!("longest key after 5 000 moves right before one card: {fixed_hi}");
        assert!(fixed_hi <= 12, "before the same card: {fixed_hi}");
    }

    #[test]
    fn alternating_gap_keeps_order() {
        // The adversarial case (always the newest, narrower side) stays correct; its keys
        // grow, as they must without renumbering, but every key is distinct and ordered.
        let mut lo = "V".to_string();
        let mut hi = "W".to_string();
        for i in 0..500 {
            let mid = check(Some(&lo), Some(&hi));
            if i % 2 == 0 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
    }

    #[test]
    fn invalid_neighbours_are_ignored() {
        assert!(is_valid(&between(Some("V0"), None)));
        let key = between(Some("not a key!"), Some("V"));
        assert!(is_valid(&key) && key.as_str() < "V");
        // reversed bounds never loop or panic
        let key = between(Some("W"), Some("V"));
        assert!(is_valid(&key));
    }

    #[test]
    fn midpoint_fallback_is_between() {
        for (lo, hi) in [(Some("V"), Some("W")), (None, Some("1")), (Some("z"), None)] {
            let m = midpoint(lo.map(to_digits).as_deref(), hi.map(to_digits).as_deref());
            assert!(is_valid(&m), "{m}");
            if let Some(lo) = lo {
                assert!(lo < m.as_str());
            }
            if let Some(hi) = hi {
                assert!(m.as_str() < hi);
            }
        }
    }
}
