//! The caller as App Service Authentication (EasyAuth) describes it.
//!
//! EasyAuth validates the caller in front of the app and injects `X-MS-CLIENT-PRINCIPAL`, a
//! base64 JSON document of claims. Without EasyAuth nothing strips that header, so a caller
//! could forge it: identity mapping is only ever enabled behind EasyAuth.

use crate::error::ApiError;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use serde::Deserialize;

const OBJECT_ID_CLAIMS: [&str; 2] = [
    "http://schemas.microsoft.com/identity/claims/objectidentifier",
    "oid",
];
const TENANT_ID_CLAIMS: [&str; 2] = [
    "http://schemas.microsoft.com/identity/claims/tenantid",
    "tid",
];

/// A signed-in caller, keyed on tenant id and object id (never on a display name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant_id: String,
    pub object_id: String,
}

#[derive(Deserialize)]
struct ClientPrincipal {
    #[serde(default)]
    claims: Vec<Claim>,
}

#[derive(Deserialize)]
struct Claim {
    typ: String,
    val: String,
}

impl Principal {
    /// Reads `X-MS-CLIENT-PRINCIPAL`; a missing or unreadable principal is a 401.
    pub fn from_headers(headers: &HeaderMap) -> Result<Principal, ApiError> {
        let unauthenticated = |message: &str| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "Unauthenticated",
                message.to_owned(),
            )
        };
        let encoded = headers
            .get("x-ms-client-principal")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                unauthenticated(
                    "sign in first: no App Service Authentication principal on the request",
                )
            })?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| unauthenticated("the client principal header is not base64"))?;
        let principal: ClientPrincipal = serde_json::from_slice(&decoded)
            .map_err(|_| unauthenticated("the client principal header is not JSON"))?;
        let claim = |types: &[&str]| {
            principal
                .claims
                .iter()
                .find(|c| types.contains(&c.typ.as_str()) && !c.val.trim().is_empty())
                .map(|c| c.val.trim().to_owned())
        };
        let object_id = claim(&OBJECT_ID_CLAIMS)
            .ok_or_else(|| unauthenticated("the principal has no object id (oid) claim"))?;
        let tenant_id = claim(&TENANT_ID_CLAIMS)
            .ok_or_else(|| unauthenticated("the principal has no tenant id (tid) claim"))?;
        Ok(Principal {
            tenant_id,
            object_id,
        })
    }

    /// The ACS `customId` for this caller: stable, at most 256 characters.
    pub fn custom_id(&self) -> String {
        let id: String = format!("entra:{}:{}", self.tenant_id, self.object_id)
            .chars()
            .take(256)
            .collect();
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(principal: serde_json::Value) -> HeaderMap {
        let encoded = base64::engine::general_purpose::STANDARD.encode(principal.to_string());
        let mut headers = HeaderMap::new();
        headers.insert("x-ms-client-principal", encoded.parse().unwrap());
        headers
    }

    #[test]
    fn reads_tenant_and_object_id() {
        let h = headers(serde_json::json!({"auth_typ": "aad", "claims": [
            {"typ": "name", "val": "Sally"},
            {"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": "oid-1"},
            {"typ": "http://schemas.microsoft.com/identity/claims/tenantid", "val": "tid-1"}
        ]}));
        let principal = Principal::from_headers(&h).unwrap();
        assert_eq!(principal.custom_id(), "entra:tid-1:oid-1");
    }

    #[test]
    fn missing_or_garbled_principals_are_401() {
        assert_eq!(
            Principal::from_headers(&HeaderMap::new())
                .unwrap_err()
                .status,
            StatusCode::UNAUTHORIZED
        );
        let no_tid = headers(serde_json::json!({"claims": [{"typ": "oid", "val": "x"}]}));
        assert_eq!(
            Principal::from_headers(&no_tid).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
        let mut garbled = HeaderMap::new();
        garbled.insert("x-ms-client-principal", "%%%".parse().unwrap());
        assert_eq!(
            Principal::from_headers(&garbled).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
    }
}
