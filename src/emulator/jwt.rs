//! Minimal HS256 JSON Web Tokens, enough for clients that decode the payload and for the
//! emulator to recognise its own tokens.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Builds `base64url(header).base64url(claims).base64url(HMAC-SHA256 signature)`.
pub(super) fn sign(header: &Value, claims: &Value, key: &[u8]) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = URL_SAFE_NO_PAD.encode(
        hmac_sha256(key, signing_input.as_bytes())
            .finalize()
            .into_bytes(),
    );
    format!("{signing_input}.{signature}")
}

/// Returns the claims of a token signed with `key`, or `None` for anything else.
pub(super) fn verify(token: &str, key: &[u8]) -> Option<Value> {
    let (signing_input, signature) = token.rsplit_once('.')?;
    let (_, claims) = signing_input.split_once('.')?;
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    // `verify_slice` compares in constant time.
    hmac_sha256(key, signing_input.as_bytes())
        .verify_slice(&signature)
        .ok()?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()
}

/// Decodes the claims without checking the signature (for tests and diagnostics).
#[cfg(test)]
pub(super) fn claims(token: &str) -> Option<Value> {
    let claims = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()
}

/// An HMAC-SHA256 over `message`, ready to finalize or verify (also used by key auth).
pub(super) fn hmac_sha256(key: &[u8], message: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length (long ones are hashed), so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn signed_token_verifies_with_its_key_only() {
        let token = sign(&json!({"alg": "HS256"}), &json!({"aud": "x"}), b"key-1");
        assert_eq!(token.split('.').count(), 3);
        assert_eq!(verify(&token, b"key-1"), Some(json!({"aud": "x"})));
        assert_eq!(verify(&token, b"key-2"), None);
        assert_eq!(claims(&token), Some(json!({"aud": "x"})));
    }

    #[test]
    fn tampered_token_is_refused() {
        let token = sign(&json!({"alg": "HS256"}), &json!({"aud": "x"}), b"key");
        let forged = format!(
            "{}.{}.{}",
            token.split('.').next().unwrap_or_default(),
            URL_SAFE_NO_PAD.encode(r#"{"aud":"y"}"#),
            token.rsplit('.').next().unwrap_or_default()
        );
        assert_eq!(verify(&forged, b"key"), None);
        assert_eq!(verify("not-a-token", b"key"), None);
    }
}
