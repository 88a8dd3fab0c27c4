//! The parsers of the settings' values. Each error says what was expected in a few words;
//! `ConfigError::from_clap` adds the variable, the flag and the value.

use std::net::SocketAddr;

use url::Url;

use crate::validate;

pub fn socket_addr(raw: &str) -> Result<SocketAddr, String> {
    raw.trim()
        .parse()
        .map_err(|_| "expected host:port like 127.0.0.1:8000".to_string())
}

pub fn database_url(raw: &str) -> Result<String, String> {
    let url = raw.trim();
    if url.starts_with("sqlite:") || has_scheme_and_host(url, &["postgres", "postgresql"]) {
        Ok(url.to_string())
    } else {
        Err(
            "expected sqlite://file.db?mode=rwc, sqlite::memory: or postgres://user:pass@host/db"
                .to_string(),
        )
    }
}

/// Empty passes: the setting is then unset.
pub fn redis_url(raw: &str) -> Result<String, String> {
    let url = raw.trim();
    if url.is_empty() || has_scheme_and_host(url, &["redis", "rediss"]) {
        Ok(url.to_string())
    } else {
        Err("expected redis://host:port[/db]".to_string())
    }
}

/// Checks that `pem` holds at least one certificate and nothing unparseable; the redis
/// crate would otherwise take a file with none as an empty trust store, and every TLS
/// handshake would fail with an unknown issuer.
pub fn pem_certificates(pem: &[u8]) -> Result<usize, String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        cert.map_err(|e| format!("not a PEM certificate file: {e}"))?;
        count += 1;
    }
    if count == 0 {
        return Err("no PEM certificate (-----BEGIN CERTIFICATE-----) in it".to_string());
    }
    Ok(count)
}

pub fn redis_prefix(raw: &str) -> Result<String, String> {
    let prefix = raw.trim();
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':');
    if !prefix.is_empty() && prefix.chars().all(allowed) {
        Ok(prefix.to_string())
    } else {
        Err("expected letters, digits, `_`, `-`, `.` or `:`".to_string())
    }
}

/// Empty passes: the setting is then unset.
pub fn jwt_secret(raw: &str) -> Result<String, String> {
    if raw.is_empty() || raw.len() >= 32 {
        Ok(raw.to_string())
    } else {
        Err("must be at least 32 bytes long (leave it unset to have one generated)".to_string())
    }
}

/// Empty passes: the setting is then unset.
pub fn admin_email(raw: &str) -> Result<String, String> {
    if raw.trim().is_empty() {
        return Ok(String::new());
    }
    validate::normalize_email(raw)
}

/// Empty passes: the setting is then unset.
pub fn admin_password(raw: &str) -> Result<String, String> {
    if raw.is_empty() {
        return Ok(String::new());
    }
    validate::check_password(raw).map(|()| raw.to_string())
}

/// Allowed CORS origins, without a trailing `/`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsOrigins(pub Vec<String>);

/// Comma-separated; blank entries are skipped, so an empty value allows none.
pub fn cors_origins(raw: &str) -> Result<CorsOrigins, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(|origin| {
            if origin == "*" || has_scheme_and_host(origin, &["http", "https"]) {
                Ok(origin.trim_end_matches('/').to_string())
            } else {
                Err(format!(
                    "`{origin}` is not an origin like https://app.example.com"
                ))
            }
        })
        .collect::<Result<_, _>>()
        .map(CorsOrigins)
}

fn has_scheme_and_host(raw: &str, schemes: &[&str]) -> bool {
    Url::parse(raw).is_ok_and(|url| schemes.contains(&url.scheme()) && url.host().is_some())
}
