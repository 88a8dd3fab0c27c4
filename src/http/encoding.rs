//! Content codings (RFC 9110 12.5.3): which of the server's codings a request's
//! `Accept-Encoding` accepts and prefers, and the compressor of the board's cached copies.
//! The board (`routes::projects::board`) and the response compression of everything else
//! (`http::compression`) both decide with [`Accepted`], so they never disagree.

use std::io::Write;

use axum::http::{HeaderMap, header};

/// The compressed codings the server answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    Br,
    Gzip,
}

impl Coding {
    /// The coding's name in `Content-Encoding` (and in the board's entity tags).
    pub const fn name(self) -> &'static str {
        match self {
            Coding::Br => "br",
            Coding::Gzip => "gzip",
        }
    }
}

/// A q-value in thousandths (`q=0.5` is 500): RFC 9110 12.4.2 allows three decimals.
type Quality = u16;
const FULL: Quality = 1000;

/// What one request's `Accept-Encoding` says of the codings the server has. An entry that
/// cannot be read (a malformed q-value) is left out, as if the client had not sent it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    br: Option<Quality>,
    gzip: Option<Quality>,
    identity: Option<Quality>,
    /// `*`: every coding not listed by name.
    any: Option<Quality>,
}

impl Accepted {
    pub fn of(headers: &HeaderMap) -> Self {
        let mut accepted = Accepted::default();
        let entries = headers
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','));
        for entry in entries {
            let mut parts = entry.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let Some(quality) = quality(parts) else {
                continue;
            };
            let slot = if coding.eq_ignore_ascii_case("br") {
                &mut accepted.br
            } else if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                &mut accepted.gzip
            } else if coding.eq_ignore_ascii_case("identity") {
                &mut accepted.identity
            } else if coding == "*" {
                &mut accepted.any
            } else {
                continue;
            };
            // A coding listed twice: the first entry counts.
            slot.get_or_insert(quality);
        }
        accepted
    }

    /// The q-value of `coding`: its own entry, else `*`'s, else 0 (not acceptable: a
    /// client that sends `Accept-Encoding` names what it can decode).
    fn quality(&self, coding: Coding) -> Quality {
        let named = match coding {
            Coding::Br => self.br,
            Coding::Gzip => self.gzip,
        };
        named.or(self.any).unwrap_or(0)
    }

    /// `coding` is acceptable (q > 0).
    pub fn accepts(&self, coding: Coding) -> bool {
        self.quality(coding) > 0
    }

    /// The coding to answer with; `None` for none (identity). The acceptable compressed
    /// coding of the higher q, br on a tie (smaller for the same work), unless identity is
    /// listed by name with a higher q still. Identity is never refused: a client that
    /// refuses it too (`identity;q=0`) gets it all the same rather than a 406 (which
    /// RFC 9110 allows, and which no client could use).
    pub fn preferred(&self) -> Option<Coding> {
        let (br, gzip) = (self.quality(Coding::Br), self.quality(Coding::Gzip));
        let (coding, quality) = if br >= gzip {
            (Coding::Br, br)
        } else {
            (Coding::Gzip, gzip)
        };
        (quality > 0 && quality >= self.identity.unwrap_or(0)).then_some(coding)
    }
}

/// The q-value of an entry from its parameters (`;q=0.8`); none given is 1. `None`: a
/// malformed q-value, so the entry is left out.
fn quality<'a>(params: impl Iterator<Item = &'a str>) -> Option<Quality> {
    for param in params {
        let param = param.trim();
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("q") {
            return parse_qvalue(value.trim());
        }
    }
    Some(FULL)
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )` (RFC 9110 12.4.2).
fn parse_qvalue(text: &str) -> Option<Quality> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Padded to thousandths: "5" → 500, "05" → 50.
    let thousandths = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0, |n: Quality, digit| n * 10 + Quality::from(digit - b'0'));
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(FULL),
        _ => None,
    }
}

/// The coding to answer a request with; `None`: identity. See [`Accepted::preferred`].
pub fn negotiate(headers: &HeaderMap) -> Option<Coding> {
    Accepted::of(headers).preferred()
}

/// gzip level 6 (zlib's default) and brotli quality 5 (window 4 MiB, brotli's default):
/// a board is compressed once per version and coding, on the blocking pool, while the first
/// client that asked waits, and a busy board changes several times a second. Measured once
/// on a synthetic 500-task board (≈ 200 KB of JSON, tasks as the bench makes them) on this
/// 2-core machine: gzip 6 ≈ 1 ms for 16× smaller, brotli 5 ≈ 10 ms for 21× (br 4 was no
/// faster there and 18×); the top levels gain little for much more time (gzip 9: 16×;
/// brotli 11: 28× but ≈ 2 s, paid again at every change).
const GZIP_LEVEL: u32 = 6;
const BROTLI_QUALITY: i32 = 5;
const BROTLI_WINDOW_BITS: i32 = 22;

/// `data` compressed with `coding`.
pub fn compress(coding: Coding, data: &[u8]) -> std::io::Result<Vec<u8>> {
    // JSON shrinks several times: a quarter of its size is room enough to start with.
    let out = Vec::with_capacity(data.len() / 4);
    match coding {
        Coding::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(out, flate2::Compression::new(GZIP_LEVEL));
            encoder.write_all(data)?;
            encoder.finish()
        }
        Coding::Br => {
            let params = brotli::enc::BrotliEncoderParams {
                quality: BROTLI_QUALITY,
                lgwin: BROTLI_WINDOW_BITS,
                size_hint: data.len(),
                ..Default::default()
            };
            let mut out = out;
            brotli::BrotliCompress(&mut &data[..], &mut out, &params)?;
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::conditional::headers;

    fn pick(value: &'static str) -> Option<Coding> {
        negotiate(&headers(&[("accept-encoding", value)]))
    }

    #[test]
    fn no_header_or_nothing_known_is_identity() {
        assert_eq!(negotiate(&headers(&[])), None);
        assert_eq!(pick(""), None);
        assert_eq!(pick("identity"), None);
        assert_eq!(pick("deflate, zstd"), None);
    }

    #[test]
    fn br_wins_a_tie_else_the_higher_q() {
        assert_eq!(pick("gzip, br"), Some(Coding::Br));
        assert_eq!(pick("gzip, deflate, br, zstd"), Some(Coding::Br));
        assert_eq!(pick("gzip"), Some(Coding::Gzip));
        assert_eq!(pick("x-gzip"), Some(Coding::Gzip));
        assert_eq!(pick("br;q=0.5, gzip;q=0.8"), Some(Coding::Gzip));
        assert_eq!(pick("br;q=0.8, gzip;q=0.5"), Some(Coding::Br));
        assert_eq!(pick("gzip;q=0.001"), Some(Coding::Gzip));
        assert_eq!(pick("GZIP ; Q=1.0 , BR;q=0.999"), Some(Coding::Gzip));
    }

    #[test]
    fn q_zero_refuses() {
        assert_eq!(pick("gzip;q=0, br;q=0"), None);
        assert_eq!(pick("br;q=0, gzip"), Some(Coding::Gzip));
        assert_eq!(pick("br;q=0.000, gzip;q=0.0"), None);
        // Identity refused as well: it is sent all the same (no 406).
        assert_eq!(pick("gzip;q=0, br;q=0, identity;q=0"), None);
    }

    #[test]
    fn star_counts_for_what_is_not_named() {
        assert_eq!(pick("*"), Some(Coding::Br));
        assert_eq!(pick("br;q=0, *"), Some(Coding::Gzip));
        assert_eq!(pick("*;q=0"), None);
        assert_eq!(pick("*;q=0, gzip"), Some(Coding::Gzip));
        assert_eq!(pick("gzip;q=0.3, *;q=0.5"), Some(Coding::Br));
    }

    #[test]
    fn identity_preferred_by_name_wins() {
        assert_eq!(pick("identity, gzip;q=0.5"), None);
        assert_eq!(pick("identity;q=0.5, gzip;q=0.5"), Some(Coding::Gzip));
        assert_eq!(pick("identity;q=0.4, gzip;q=0.5"), Some(Coding::Gzip));
    }

    #[test]
    fn malformed_entries_are_left_out() {
        for bad in ["q=2", "q=1.5", "q=0.0001", "q=-1", "q=.5", "q=", "q=0.5x"] {
            let value = format!("br;{bad}, gzip;q=0.1");
            let headers = {
                let mut map = HeaderMap::new();
                map.insert(
                    header::ACCEPT_ENCODING,
                    value.parse().expect("header value"),
                );
                map
            };
            assert_eq!(negotiate(&headers), Some(Coding::Gzip), "{value}");
        }
        // Other parameters are passed over; several header lines count together.
        assert_eq!(pick("gzip;level=1;q=0.5, br;q=0.4"), Some(Coding::Gzip));
        assert_eq!(
            negotiate(&headers(&[
                ("accept-encoding", "gzip;q=0.5"),
                ("accept-encoding", "br")
            ])),
            Some(Coding::Br)
        );
        assert_eq!(pick(",,;, ;q=1"), None);
    }

    #[test]
    fn acceptance_of_each_coding() {
        let accepted = Accepted::of(&headers(&[("accept-encoding", "br, gzip;q=0")]));
        assert!(accepted.accepts(Coding::Br));
        assert!(!accepted.accepts(Coding::Gzip));
    }

    #[test]
    fn compressed_forms_decode_to_the_input() {
        use std::io::Read;
        let data = r#"{"columns":[{"status":"todo","tasks":[]}]}"#.repeat(200);
        let gzip = compress(Coding::Gzip, data.as_bytes()).expect("gzip");
        let mut plain = String::new();
        flate2::read::GzDecoder::new(gzip.as_slice())
            .read_to_string(&mut plain)
            .expect("gunzip");
        assert_eq!(plain, data);
        let br = compress(Coding::Br, data.as_bytes()).expect("br");
        let mut plain = String::new();
        brotli::Decompressor::new(br.as_slice(), 4096)
            .read_to_string(&mut plain)
            .expect("unbrotli");
        assert_eq!(plain, data);
        assert!(br.len() < data.len() / 10 && gzip.len() < data.len() / 10);
    }
}
