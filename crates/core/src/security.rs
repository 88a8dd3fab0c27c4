//! Tokens and passwords.
//!
//! - Access tokens: JWT HS256 with `sub`, `exp`, `iat`, `iss`, `aud`, `jti`, `typ`="access";
//!   only HS256 is accepted, every claim is checked against the injectable clock.  Signed and
//!   verified here on `hmac` + `sha2` (RFC 7515/7519, compact form): a JWT library would bring
//!   RSA/EC code (and RUSTSEC-2023-0071's `rsa`) that an HS256-only server never runs.
//! - Refresh tokens: 256 random bits, base64url; only their SHA-256 is stored.
//! - Passwords: argon2id (m=19456 KiB, t=2, p=1), computed on a few dedicated threads at a
//!   lower OS priority behind a bounded queue, so a login storm cannot starve the async
//!   runtime or other requests.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit as _, Mac as _};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{AppError, AppResult};

pub const ISSUER: &str = "flowtrack";
pub const AUDIENCE: &str = "flowtrack";
const ACCESS_TYPE: &str = "access";
/// Clock skew tolerated on `exp` and `iat`.
pub const LEEWAY_SECS: i64 = 60;

/// `{"typ":"JWT","alg":"HS256"}` in base64url: the header of every token issued.
const HEADER_B64: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9";

/// Every field is required (a token missing one does not deserialize); unknown ones are
/// ignored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub exp: i64,
    pub iat: i64,
    pub iss: String,
    pub aud: String,
    pub jti: Uuid,
    pub typ: String,
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
}

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

    /// Issues an access token for `user_id`, valid for `ttl` from `now`.
    pub fn issue_access(
        &self,
        user_id: Uuid,
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
        })
    }

    /// Checks signature, algorithm, issuer, audience, type and time of an access token.
    pub fn verify_access(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Arc<Claims>, TokenError> {
        let claims = match self.verified.get(token) {
            Some(claims) => claims,
            None => {
                let claims = Arc::new(self.decode(token)?);
                self.verified.insert(token.to_string(), claims.clone());
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
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A unit of password work for the hashing threads.
type Job = Box<dyn FnOnce() + Send>;

/// Argon2id hashing on a few dedicated threads running at a lower OS priority, so a login
/// storm queues here instead of taking CPU from every other request.
#[derive(Clone)]
pub struct Passwords {
    jobs: std::sync::mpsc::SyncSender<Job>,
    /// A hash of a random password, verified against when the account does not exist, so an
    /// unknown email costs as much time as a wrong password.
    decoy_hash: Arc<String>,
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_now(password: &str) -> AppResult<String> {
    argon2()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AppError::internal(format!("password hashing failed: {e}")))
}

/// Lowers the calling thread's scheduling priority (nice +10; Linux only).
fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: `gettid` has no preconditions; `setpriority` only reads its arguments and
    // affects the calling thread, and failure (reported by the return value) is harmless.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}

/// Password hashes waiting for a thread, at most; past that, callers wait to enqueue.
const QUEUE: usize = 1024;

impl Passwords {
    pub fn new(threads: usize) -> AppResult<Self> {
        let decoy = hash_now(&generate_secret())?;
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(QUEUE);
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for n in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    lower_thread_priority();
                    loop {
                        let job = {
                            let queue = queue.lock().unwrap_or_else(|p| p.into_inner());
                            queue.recv()
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| AppError::internal(format!("starting a hashing thread: {e}")))?;
        }
        Ok(Self {
            jobs,
            decoy_hash: Arc::new(decoy),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> AppResult<T> + Send + 'static,
    ) -> AppResult<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(std::sync::mpsc::TrySendError::Full(job)) => {
                // A full queue: wait for room off the async threads.
                let jobs = self.jobs.clone();
                tokio::task::spawn_blocking(move || jobs.send(job))
                    .await
                    .map_err(|e| AppError::internal(format!("password queue failed: {e}")))?
                    .map_err(|_| AppError::internal("password hashing threads stopped"))?;
            }
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                return Err(AppError::internal("password hashing threads stopped"));
            }
        }
        result
            .await
            .map_err(|_| AppError::internal("password hashing was dropped"))?
    }

    pub async fn hash(&self, password: &str) -> AppResult<String> {
        let password = password.to_string();
        self.run(move || hash_now(&password)).await
    }

    /// True when `password` matches `hash`. With `hash: None` (unknown account) it checks
    /// against the decoy and answers false, taking the same time.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> AppResult<bool> {
        let password = password.to_string();
        let known = hash.is_some();
        let hash = hash
            .map(str::to_string)
            .unwrap_or_else(|| self.decoy_hash.as_ref().clone());
        let matches = self
            .run(move || {
                Ok(argon2()
                    .verify_password(password.as_bytes(), hash.as_str())
                    .is_ok())
            })
            .await?;
        Ok(known && matches)
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
            .issue_access(user, now, Duration::from_secs(900))
            .expect("sign");
        let claims = keys.verify_access(&token, now).expect("valid");
        assert_eq!(claims.sub, user);
        assert_eq!(claims.iss, "flowtrack");
    }

    #[test]
    fn expiry_and_future_iat_are_enforced_with_leeway() {
        let keys = JwtKeys::new(SECRET);
        let now = Utc::now();
        let token = keys
            .issue_access(Uuid::now_v7(), now, Duration::from_secs(10))
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
            .issue_access(Uuid::now_v7(), now, Duration::from_secs(60))
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

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let (a, hash_a) = new_refresh_token();
        let (b, _) = new_refresh_token();
        assert_ne!(a, b);
        assert!(a.len() >= 43, "256 bits in base64url");
        assert_eq!(hash_refresh_token(&a), hash_a);
        assert_ne!(hash_a, a);
    }

    #[tokio::test]
    async fn passwords_verify_and_unknown_accounts_never_match() {
        let passwords = Passwords::new(2).expect("init");
        let hash = passwords.hash("correct horse").await.expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            passwords
                .verify("correct horse", Some(&hash))
                .await
                .expect("verify")
        );
        assert!(
            !passwords
                .verify("wrong", Some(&hash))
                .await
                .expect("verify")
        );
        assert!(
            !passwords
                .verify("correct horse", None)
                .await
                .expect("verify")
        );
    }
}
