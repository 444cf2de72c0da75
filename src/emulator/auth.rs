//! Authentication of ACS requests: Entra bearer tokens from the emulated identity endpoint, or
//! HMAC-SHA256 with the access key (acs-rest.md §2, §3, §9.2).

use std::time::{Duration, SystemTime};

use axum::http::HeaderMap;
use axum::http::request::Parts;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::Mac;
use sha2::{Digest, Sha256};

use super::acs_common::{AcsError, percent_decode};
use super::jwt;
use super::state::EmulatorState;

/// Resources a managed-identity token must be issued for to be accepted here.
const ACS_RESOURCES: [&str; 2] = [
    "https://communication.azure.com",
    "https://communication.azure.com/",
];

/// How far `x-ms-date` may be from the emulator's clock. ACS does not document its limit
/// (acs-rest.md §3); 15 minutes is what App Configuration's HMAC scheme documents.
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// Why an HMAC-signed request was refused.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum HmacError {
    /// `x-ms-content-sha256` does not match the body.
    ContentHash,
    /// Anything else: malformed header, missing signed header, wrong signature.
    Denied,
}

/// Checks the `Authorization` header of an ACS request.
pub(super) fn authorize(state: &EmulatorState, parts: &Parts, body: &[u8]) -> Result<(), AcsError> {
    let Some(authorization) = parts.headers.get("authorization") else {
        return Err(invalid_token("Authorization header is missing."));
    };
    let authorization = authorization.to_str().unwrap_or_default();

    if let Some(token) = strip_scheme(authorization, "Bearer") {
        return check_bearer(state, token);
    }
    if let Some(credentials) = strip_scheme(authorization, "HMAC-SHA256") {
        let Some(key) = state.config().access_key.as_deref() else {
            // Key auth is disabled: the emulated resource has no key that could match.
            return Err(denied(HmacError::Denied));
        };
        let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let method = parts.method.as_str();
        verify_hmac(
            key,
            method,
            path_and_query,
            &parts.headers,
            body,
            credentials,
        )
        .map_err(denied)?;
        return check_date_skew(&parts.headers).map_err(denied);
    }
    Err(invalid_token("Unsupported authorization scheme."))
}

fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (given, rest) = value.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

fn check_bearer(state: &EmulatorState, token: &str) -> Result<(), AcsError> {
    let claims = jwt::verify(token, &state.config().managed_identity_key)
        .ok_or_else(|| invalid_token("The access token is invalid."))?;

    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let exp = claims.get("exp").and_then(|v| v.as_u64()).unwrap_or(0);
    if exp <= now {
        return Err(invalid_token("The access token has expired."));
    }

    let audience = claims
        .get("aud")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    if !ACS_RESOURCES.contains(&audience) {
        return Err(invalid_token(
            "The access token was not issued for https://communication.azure.com.",
        ));
    }
    Ok(())
}

fn invalid_token(message: &str) -> AcsError {
    AcsError::new(401, "InvalidAuthenticationToken", message)
}

fn denied(error: HmacError) -> AcsError {
    let message = match error {
        HmacError::ContentHash => {
            "Request 'x-ms-content-sha256' differs from generated content hash."
        }
        HmacError::Denied => "Denied by the resource provider.",
    };
    AcsError::new(401, "Denied", message)
}

/// `base64(SHA-256(body))`, the value of `x-ms-content-sha256`.
pub(super) fn content_hash(body: &[u8]) -> String {
    STANDARD.encode(Sha256::digest(body))
}

/// `base64(HMAC-SHA256(key, string_to_sign))`.
#[cfg(test)]
pub(super) fn signature(key: &[u8], string_to_sign: &str) -> String {
    STANDARD.encode(
        jwt::hmac_sha256(key, string_to_sign.as_bytes())
            .finalize()
            .into_bytes(),
    )
}

/// Verifies `credentials` (the part after `HMAC-SHA256 `) against the request.
///
/// The signature may cover the path and query as sent or percent-decoded: Python's async
/// client signs the decoded form (acs-rest.md §3 step 4).
pub(super) fn verify_hmac(
    key: &[u8],
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    credentials: &str,
) -> Result<(), HmacError> {
    let mut signed_headers = None;
    let mut given_signature = None;
    for pair in credentials.split('&') {
        // Split at the first `=` only: base64 signatures end with `=` padding.
        match pair.split_once('=') {
            Some((name, value)) if name.eq_ignore_ascii_case("SignedHeaders") => {
                signed_headers = Some(value)
            }
            Some((name, value)) if name.eq_ignore_ascii_case("Signature") => {
                given_signature = Some(value)
            }
            _ => {}
        }
    }
    let signed_headers: Vec<String> = signed_headers
        .ok_or(HmacError::Denied)?
        .split(';')
        .map(str::to_ascii_lowercase)
        .collect();
    let given_signature = STANDARD
        .decode(given_signature.ok_or(HmacError::Denied)?)
        .map_err(|_| HmacError::Denied)?;

    let signs = |name: &str| signed_headers.iter().any(|h| h == name);
    if !signs("host") || !signs("x-ms-content-sha256") || !(signs("x-ms-date") || signs("date")) {
        return Err(HmacError::Denied);
    }

    // The content hash is checked first so a body mismatch gets its own, more useful error.
    let claimed_hash = header(headers, "x-ms-content-sha256").ok_or(HmacError::ContentHash)?;
    if claimed_hash != content_hash(body) {
        return Err(HmacError::ContentHash);
    }

    let values = signed_headers
        .iter()
        .map(|name| header(headers, name).ok_or(HmacError::Denied))
        .collect::<Result<Vec<_>, _>>()?;
    let values = values.join(";");

    let decoded = percent_decode(path_and_query);
    for candidate in [path_and_query, decoded.as_str()] {
        let string_to_sign = format!("{}\n{candidate}\n{values}", method.to_ascii_uppercase());
        if jwt::hmac_sha256(key, string_to_sign.as_bytes())
            .verify_slice(&given_signature)
            .is_ok()
        {
            return Ok(());
        }
    }
    Err(HmacError::Denied)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Refuses a signed date (`x-ms-date`, else `date`) too far from now, limiting replays.
fn check_date_skew(headers: &HeaderMap) -> Result<(), HmacError> {
    let date = header(headers, "x-ms-date")
        .or_else(|| header(headers, "date"))
        .ok_or(HmacError::Denied)?;
    let date = httpdate::parse_http_date(date).map_err(|_| HmacError::Denied)?;
    let now = SystemTime::now();
    let skew = now
        .duration_since(date)
        .or_else(|_| date.duration_since(now))
        .unwrap_or_default();
    if skew > MAX_CLOCK_SKEW {
        return Err(HmacError::Denied);
    }
    Ok(())
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
