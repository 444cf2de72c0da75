//! The caller as App Service Authentication (EasyAuth) describes it.
//!
//! EasyAuth validates the caller in front of the app and injects `X-MS-CLIENT-PRINCIPAL`, a
//! base64 JSON document of claims. Without EasyAuth nothing strips that header, so a caller
//! could forge it: identity mapping is only ever enabled behind EasyAuth.

use crate::error::ApiError;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use serde::Deserialize;
use uuid::Uuid;

const OBJECT_ID_CLAIMS: [&str; 2] = [
    "http://schemas.microsoft.com/identity/claims/objectidentifier",
    "oid",
];
const TENANT_ID_CLAIMS: [&str; 2] = [
    "http://schemas.microsoft.com/identity/claims/tenantid",
    "tid",
];

/// A signed-in Microsoft Entra caller, keyed on tenant id and object id (never on a display
/// name). Both are GUIDs, kept in one canonical spelling, so two callers can never share a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant_id: Uuid,
    pub object_id: Uuid,
}

#[derive(Deserialize)]
struct ClientPrincipal {
    #[serde(default)]
    auth_typ: Option<String>,
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
        if let Some(provider) = &principal.auth_typ
            && !provider.eq_ignore_ascii_case("aad")
        {
            return Err(unauthenticated(
                "only Microsoft Entra sign-ins (aad) map to ACS users",
            ));
        }
        let guid = |types: &[&str], name: &str| {
            let value = principal
                .claims
                .iter()
                .find(|c| types.contains(&c.typ.as_str()))
                .ok_or_else(|| unauthenticated(&format!("the principal has no {name} claim")))?;
            Uuid::parse_str(value.val.trim())
                .map_err(|_| unauthenticated(&format!("the principal's {name} is not a GUID")))
        };
        Ok(Principal {
            tenant_id: guid(&TENANT_ID_CLAIMS, "tenant id (tid)")?,
            object_id: guid(&OBJECT_ID_CLAIMS, "object id (oid)")?,
        })
    }

    /// The ACS `customId` for this caller: `entra:<tenant id>:<object id>`, 79 characters.
    pub fn custom_id(&self) -> String {
        format!("entra:{}:{}", self.tenant_id, self.object_id)
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

    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const OBJECT: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

    #[test]
    fn reads_tenant_and_object_id() {
        let h = headers(serde_json::json!({"auth_typ": "aad", "claims": [
            {"typ": "name", "val": "Sally"},
            {"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": OBJECT},
            {"typ": "http://schemas.microsoft.com/identity/claims/tenantid", "val": TENANT}
        ]}));
        let principal = Principal::from_headers(&h).unwrap();
        assert_eq!(principal.custom_id(), format!("entra:{TENANT}:{OBJECT}"));
    }

    #[test]
    fn one_caller_has_one_key_however_the_ids_are_spelled() {
        let upper = headers(serde_json::json!({"claims": [
            {"typ": "oid", "val": format!(" {} ", OBJECT.to_uppercase())},
            {"typ": "tid", "val": format!("{{{TENANT}}}")}
        ]}));
        assert_eq!(
            Principal::from_headers(&upper).unwrap().custom_id(),
            format!("entra:{TENANT}:{OBJECT}")
        );
    }

    #[test]
    fn missing_or_garbled_principals_are_401() {
        assert_eq!(
            Principal::from_headers(&HeaderMap::new())
                .unwrap_err()
                .status,
            StatusCode::UNAUTHORIZED
        );
        let mut garbled = HeaderMap::new();
        garbled.insert("x-ms-client-principal", "%%%".parse().unwrap());
        let refused = [
            serde_json::json!({"claims": [{"typ": "oid", "val": OBJECT}]}),
            // Ids that are not GUIDs could be made to collide: `a` + `b:c` and `a:b` + `c`.
            serde_json::json!({"claims": [{"typ": "tid", "val": "a"}, {"typ": "oid", "val": "b:c"}]}),
            serde_json::json!({"auth_typ": "google", "claims": [
                {"typ": "tid", "val": TENANT}, {"typ": "oid", "val": OBJECT}
            ]}),
        ];
        for principal in refused.into_iter().map(headers).chain([garbled]) {
            assert_eq!(
                Principal::from_headers(&principal).unwrap_err().status,
                StatusCode::UNAUTHORIZED
            );
        }
    }
}
