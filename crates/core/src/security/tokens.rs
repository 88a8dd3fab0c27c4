//! Access tokens: JWT HS256, compact form, every claim checked.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit as _, Mac as _};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::thread_cache::ThreadCache;

pub const ISSUER: &str = "flowtrack";
pub const AUDIENCE: &str = "flowtrack";
const ACCESS_TYPE: &str = "access";
/// Clock skew tolerated on `exp` and `iat`.
pub const LEEWAY_SECS: i64 = 60;

/// `{"typ":"JWT","alg":"HS256"}` in base64url: the header of every token issued.
const HEADER_B64: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9";

/// Every field but `sv` is required (a token missing one does not deserialize); unknown
/// ones are ignored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub exp: i64,
    pub iat: i64,
    pub iss: String,
    pub aud: String,
    pub jti: Uuid,
    pub typ: String,
    /// The user's session epoch when the token was issued (`users.session_epoch`, raised by
    /// every password change). A counter rather than a comparison of `iat` with the time of
    /// the change: `iat` has one-second granularity and comes from the issuing instance's
    /// clock, so a timestamp either spares tokens issued just before the change in the same
    /// second or refuses a fresh login right after it, and skewed clocks between instances
    /// make it worse. Absent (tokens issued before it existed, and epoch 0, which is left
    /// out so those tokens stay byte-identical) means 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sv: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// The JOSE header fields that matter when verifying: `alg` must be exactly "HS256", and no
/// `crit` extension is understood (RFC 7515 §4.1.11).  Other fields (`typ`, `kid`…) are ignored.
#[derive(Deserialize)]
struct JoseHeader {
    alg: String,
    crit: Option<IgnoredAny>,
}

/// Why a bearer token was refused (all answer the same 401; the reason is for logs/tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    Malformed,
    Expired,
    IssuedInFuture,
    WrongType,
}

pub struct JwtKeys {
    /// HMAC-SHA256 keyed with the secret, cloned for each token.
    mac: Hmac<Sha256>,
    /// Tokens whose signature and claims were already checked: a repeated request skips the
    /// HMAC and JSON work (time is still checked on every use).
    verified: moka::sync::Cache<String, Arc<Claims>>,
    /// This thread's copies of `verified`'s entries (a hit shares no memory with another
    /// core; see `thread_cache`).
    verified_here: ThreadCache<String, Arc<Claims>>,
}

/// How long a thread keeps its copy of a verified token's claims.
const VERIFIED_HERE_TTL: std::time::Duration = std::time::Duration::from_secs(60);
/// Tokens each thread keeps at most.
const VERIFIED_HERE_CAPACITY: usize = 4096;

/// base64url (no padding, as JWS requires) then JSON.
fn decode_part<T: DeserializeOwned>(part: &str) -> Result<T, TokenError> {
    let json = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)
}

impl JwtKeys {
    /// Keys from the secret's UTF-8 bytes.
    pub fn new(secret: &str) -> Self {
        Self {
            // HMAC takes keys of any length: this cannot fail.
            mac: Hmac::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length"),
            verified: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(std::time::Duration::from_secs(900))
                .build(),
            verified_here: ThreadCache::new(VERIFIED_HERE_TTL, VERIFIED_HERE_CAPACITY),
        }
    }

    /// `header.payload.signature` for these claims.
    fn sign(&self, claims: &Claims) -> AppResult<String> {
        let payload = serde_json::to_vec(claims)
            .map_err(|e| AppError::internal(format!("signing a token failed: {e}")))?;
        let input = format!("{HEADER_B64}.{}", URL_SAFE_NO_PAD.encode(payload));
        let mut mac = self.mac.clone();
        mac.update(input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        Ok(format!("{input}.{signature}"))
    }

    /// Checks form, algorithm, signature, issuer, audience and type (not time).
    fn decode(&self, token: &str) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: JoseHeader = decode_part(header_b64)?;
        if header.alg != "HS256" || header.crit.is_some() {
            return Err(TokenError::Malformed);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac.clone();
        // The signing input: `header.payload`, as received.
        mac.update(&token.as_bytes()[..header_b64.len() + 1 + payload.len()]);
        // Constant-time comparison.
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::Malformed)?;
        let claims: Claims = decode_part(payload)?;
        if claims.iss != ISSUER || claims.aud != AUDIENCE {
            return Err(TokenError::Malformed);
        }
        if claims.typ != ACCESS_TYPE {
            return Err(TokenError::WrongType);
        }
        Ok(claims)
    }

    /// Issues an access token for `user_id` in its session epoch `sv`, valid for `ttl` from
    /// `now`.
    pub fn issue_access(
        &self,
        user_id: Uuid,
        sv: i64,
        now: DateTime<Utc>,
        ttl: std::time::Duration,
    ) -> AppResult<String> {
        let iat = now.timestamp();
        self.sign(&Claims {
            sub: user_id,
            iat,
            exp: iat + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            jti: Uuid::now_v7(),
            typ: ACCESS_TYPE.into(),
            sv,
        })
    }

    /// Checks signature, algorithm, issuer, audience, type and time of an access token.
    pub fn verify_access(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Arc<Claims>, TokenError> {
        let claims = match self.verified_here.get(token) {
            Some(claims) => claims,
            None => {
                let read_at = self.verified_here.generation();
                let claims = match self.verified.get(token) {
                    Some(shared) => Claims::clone(&shared),
                    None => {
                        let claims = self.decode(token)?;
                        self.verified
                            .insert(token.to_string(), Arc::new(claims.clone()));
                        claims
                    }
                };
                // This thread's own copy (see `ThreadCache::fill`).
                let claims = Arc::new(claims);
                self.verified_here
                    .fill(read_at, token.to_string(), claims.clone());
                claims
            }
        };
        let now = now.timestamp();
        if claims.exp.saturating_add(LEEWAY_SECS) <= now {
            return Err(TokenError::Expired);
        }
        if claims.iat > now.saturating_add(LEEWAY_SECS) {
            return Err(TokenError::IssuedInFuture);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn access_tokens_round_trip() {
        let keys = JwtKeys::new(SECRET);
        let now = Utc::now();
        let user = Uuid::now_v7();
        let token = keys
            .issue_access(user, 0, now, Duration::from_secs(900))
            .expect("sign");
        let claims = keys.verify_access(&token, now).expect("valid");
        assert_eq!(claims.sub, user);
        assert_eq!(claims.iss, "flowtrack");
    }

    #[test]
    fn the_session_epoch_travels_in_sv_and_is_left_out_at_zero() {
        let keys = JwtKeys::new(SECRET);
        let now = Utc::now();
        let payload = |token: &str| -> serde_json::Value {
            decode_part(token.split('.').nth(1).expect("payload")).expect("json")
        };
        let token = keys
            .issue_access(Uuid::now_v7(), 3, now, Duration::from_secs(60))
            .expect("sign");
        assert_eq!(keys.verify_access(&token, now).expect("valid").sv, 3);
        assert_eq!(payload(&token)["sv"], 3);
        // Epoch 0: no claim, as tokens were before it existed; those read as epoch 0.
        let token = keys
            .issue_access(Uuid::now_v7(), 0, now, Duration::from_secs(60))
            .expect("sign");
        assert!(payload(&token).get("sv").is_none());
        let at = DateTime::from_timestamp(1_700_000_100, 0).expect("time");
        assert_eq!(keys.verify_access(KNOWN_TOKEN, at).map(|c| c.sv), Ok(0));
    }

    #[test]
    fn expiry_and_future_iat_are_enforced_with_leeway() {
        let keys = JwtKeys::new(SECRET);
        let now = Utc::now();
        let token = keys
            .issue_access(Uuid::now_v7(), 0, now, Duration::from_secs(10))
            .expect("sign");
        let later = now + chrono::TimeDelta::seconds(10 + LEEWAY_SECS - 1);
        assert!(keys.verify_access(&token, later).is_ok());
        let too_late = now + chrono::TimeDelta::seconds(10 + LEEWAY_SECS + 1);
        assert_eq!(
            keys.verify_access(&token, too_late).err(),
            Some(TokenError::Expired)
        );
        let too_early = now - chrono::TimeDelta::seconds(LEEWAY_SECS + 5);
        assert_eq!(
            keys.verify_access(&token, too_early).err(),
            Some(TokenError::IssuedInFuture)
        );
    }

    #[test]
    fn other_keys_and_algorithms_are_refused() {
        let keys = JwtKeys::new(SECRET);
        let other = JwtKeys::new("another-secret-another-secret-xx");
        let now = Utc::now();
        let token = other
            .issue_access(Uuid::now_v7(), 0, now, Duration::from_secs(60))
            .expect("sign");
        assert_eq!(
            keys.verify_access(&token, now).err(),
            Some(TokenError::Malformed)
        );

        // alg: none, with otherwise valid claims.
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let claims = Claims {
            sub: Uuid::now_v7(),
            exp: now.timestamp() + 60,
            iat: now.timestamp(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            jti: Uuid::now_v7(),
            typ: "access".into(),
            sv: 0,
        };
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("json"));
        let unsigned = format!("{header}.{body}.");
        assert!(keys.verify_access(&unsigned, now).is_err());
    }

    /// A token computed independently (Python's `hmac`, `hashlib`, `base64`) for fixed claims,
    /// byte for byte what the jsonwebtoken crate issued for them before: issuing is
    /// deterministic and tokens issued before the switch still verify.
    const KNOWN_TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIwMTkyZjBjMS0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwMDEiLCJleHAiOjE3MDAwMDA5MDAsImlhdCI6MTcwMDAwMDAwMCwiaXNzIjoiZmxvd3RyYWNrIiwiYXVkIjoiZmxvd3RyYWNrIiwianRpIjoiMDE5MmYwYzEtMDAwMC03MDAwLTgwMDAtMDAwMDAwMDAwMDAyIiwidHlwIjoiYWNjZXNzIn0.5znkHCp-gFJeE_FaY41fqHPrDWXYGn6ZfBQOQGgBqQY";

    fn known_claims() -> Claims {
        Claims {
            sub: "0192f0c1-0000-7000-8000-000000000001"
                .parse()
                .expect("uuid"),
            exp: 1_700_000_900,
            iat: 1_700_000_000,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            jti: "0192f0c1-0000-7000-8000-000000000002"
                .parse()
                .expect("uuid"),
            typ: ACCESS_TYPE.into(),
            sv: 0,
        }
    }

    #[test]
    fn tokens_match_an_independent_hs256_implementation() {
        let keys = JwtKeys::new(SECRET);
        assert_eq!(keys.sign(&known_claims()).expect("sign"), KNOWN_TOKEN);
        let at = DateTime::from_timestamp(1_700_000_100, 0).expect("time");
        let claims = keys.verify_access(KNOWN_TOKEN, at).expect("verifies");
        assert_eq!(claims.sub, known_claims().sub);
        assert_eq!(claims.jti, known_claims().jti);
    }

    /// A token with this header (JSON) and the known claims, signed with the right key.
    fn with_header(header: &str) -> String {
        let keys = JwtKeys::new(SECRET);
        let payload = KNOWN_TOKEN.split('.').nth(1).expect("payload");
        let input = format!("{}.{payload}", URL_SAFE_NO_PAD.encode(header));
        let mut mac = keys.mac.clone();
        mac.update(input.as_bytes());
        format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    #[test]
    fn headers_are_checked_and_the_form_is_strict() {
        let keys = JwtKeys::new(SECRET);
        let decode = |token: &str| keys.decode(token).map(|c| c.sub);
        // Other header fields are ignored; alg must be exactly HS256, no crit extension.
        assert!(decode(&with_header(r#"{"alg":"HS256"}"#)).is_ok());
        assert!(decode(&with_header(r#"{"alg":"HS256","kid":"x","typ":"at+jwt"}"#)).is_ok());
        for header in [
            r#"{"alg":"HS384","typ":"JWT"}"#,
            r#"{"alg":"hs256","typ":"JWT"}"#,
            r#"{"alg":"none","typ":"JWT"}"#,
            r#"{"typ":"JWT"}"#,
            r#"{"alg":"HS256","alg":"HS256"}"#,
            r#"{"alg":"HS256","crit":["exp"]}"#,
            r#"["HS256"]"#,
        ] {
            assert_eq!(
                decode(&with_header(header)),
                Err(TokenError::Malformed),
                "{header}"
            );
        }
        // Exactly three parts, unpadded base64url, in the known token's place.
        let padded = KNOWN_TOKEN.replacen('.', "=.", 1);
        for token in [
            format!("{KNOWN_TOKEN}."),
            format!("{HEADER_B64}.{KNOWN_TOKEN}"),
            KNOWN_TOKEN.rsplit_once('.').expect("dot").0.to_string(),
            padded,
            format!("{KNOWN_TOKEN}="),
        ] {
            assert_eq!(decode(&token), Err(TokenError::Malformed), "{token}");
        }
    }
}
