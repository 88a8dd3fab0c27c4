//! Tokens and passwords.
//!
//! - [`tokens`]: access tokens, JWT HS256 with `sub`, `exp`, `iat`, `iss`, `aud`, `jti`,
//!   `typ`="access"; only HS256 is accepted, every claim is checked against the injectable
//!   clock. Signed and verified on `hmac` + `sha2` (RFC 7515/7519, compact form): a JWT
//!   library would bring RSA/EC code (and RUSTSEC-2023-0071's `rsa`) that an HS256-only
//!   server never runs.
//! - here: refresh tokens (256 random bits, base64url; only their SHA-256 is stored) and the
//!   generated signing secret.
//! - [`passwords`]: argon2id (m=19456 KiB, t=2, p=1), computed on a few dedicated threads at
//!   a lower OS priority behind a bounded queue, so a login storm cannot starve the async
//!   runtime or other requests.

mod passwords;
mod tokens;
mod webhook;

pub use passwords::Passwords;
pub use tokens::{AUDIENCE, Claims, ISSUER, JwtKeys, LEEWAY_SECS, TokenError};
pub use webhook::{WEBHOOK_SECRET_PREFIX, new_webhook_secret, sign_webhook, signature_header};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Fills a buffer from the operating system's CSPRNG (via rand's thread RNG).
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::fill(&mut bytes[..]);
    bytes
}

/// A new random secret (256 bits, base64url) for signing tokens.
pub fn generate_secret() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// A new opaque refresh token (256 random bits) and the hash to store for it.
pub fn new_refresh_token() -> (String, String) {
    let token = URL_SAFE_NO_PAD.encode(random_bytes::<32>());
    let hash = hash_refresh_token(&token);
    (token, hash)
}

/// SHA-256 of a refresh token, hex: the only form in which refresh tokens are stored.
pub fn hash_refresh_token(token: &str) -> String {
    hash_secret(token)
}

/// What every API token secret starts with (so that it is told from an access token at once).
pub const API_TOKEN_PREFIX: &str = "ft_";
/// Random characters after the prefix: 43 of 62 ≈ 256 bits.
const API_TOKEN_RANDOM_CHARS: usize = 43;
const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A new API token secret (`ft_` + 43 characters of `[A-Za-z0-9]`) and the hash to store for
/// it. Characters are drawn without bias: bytes past the last multiple of 62 are redrawn.
pub fn new_api_token() -> (String, String) {
    let mut secret = String::with_capacity(API_TOKEN_PREFIX.len() + API_TOKEN_RANDOM_CHARS);
    secret.push_str(API_TOKEN_PREFIX);
    let limit = (256 / ALPHANUMERIC.len() * ALPHANUMERIC.len()) as u8;
    while secret.len() < API_TOKEN_PREFIX.len() + API_TOKEN_RANDOM_CHARS {
        for byte in random_bytes::<64>() {
            if byte < limit && secret.len() < API_TOKEN_PREFIX.len() + API_TOKEN_RANDOM_CHARS {
                secret.push(ALPHANUMERIC[usize::from(byte) % ALPHANUMERIC.len()] as char);
            }
        }
    }
    let hash = hash_secret(&secret);
    (secret, hash)
}

/// SHA-256 of a high-entropy secret (refresh token, API token), hex: the only form in which
/// such secrets are stored. A fast hash is enough: the secrets carry 256 random bits.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let (a, hash_a) = new_refresh_token();
        let (b, _) = new_refresh_token();
        assert_ne!(a, b);
        assert!(a.len() >= 43, "256 bits in base64url");
        assert_eq!(hash_refresh_token(&a), hash_a);
        assert_ne!(hash_a, a);
    }

    #[test]
    fn api_tokens_are_prefixed_alphanumeric_and_hashed() {
        let (a, hash_a) = new_api_token();
        let (b, _) = new_api_token();
        assert_ne!(a, b);
        let random = a.strip_prefix("ft_").expect("prefix");
        assert_eq!(random.len(), 43);
        assert!(random.bytes().all(|c| c.is_ascii_alphanumeric()), "{a}");
        assert_eq!(hash_secret(&a), hash_a);
    }
}
