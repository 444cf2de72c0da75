//! The Identity API: create users, issue and revoke their tokens, delete them (acs-rest.md §6).

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::Response;
use bytes::Bytes;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::acs_common::{
    AcsError, Family, json_response, no_content, parse_body, unsupported_version,
};
use super::acs_tokens::{expires_in_minutes, issue_token, scopes};
use super::state::{Data, EmulatorState, IdentityRecord};
use super::timefmt;

/// Identity api-versions, oldest first so features can be compared by order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Version {
    V2021_03_07,
    V2022_10_01,
    V2023_10_01,
    Preview2025_03_02,
}

fn version(query: Option<&str>) -> Result<Version, AcsError> {
    Ok(match Family::Identity.api_version(query)? {
        "2021-03-07" => Version::V2021_03_07,
        "2022-10-01" => Version::V2022_10_01,
        "2023-10-01" => Version::V2023_10_01,
        _ => Version::Preview2025_03_02,
    })
}

/// `POST /identities`: 201 with the new identity (and a token when scopes are given); with
/// `customId` (preview) an existing identity is answered with 200.
pub(super) async fn create_identity(
    State(state): State<EmulatorState>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response<Body> {
    Family::Identity.finish(create(&state, query.as_deref(), &body))
}

fn create(
    state: &EmulatorState,
    query: Option<&str>,
    body: &[u8],
) -> Result<Response<Body>, AcsError> {
    let version = version(query)?;
    let body = object(parse_body(body, true)?)?;
    let scopes = match body.get("createTokenWithScopes") {
        None | Some(Value::Null) => Vec::new(),
        Some(value) => scopes(value, version)?,
    };
    let minutes = expires_in_minutes(&body, version)?;
    let custom_id = custom_id(&body, version)?;

    // One lock for lookup and insert, so concurrent creates with one customId agree.
    let mut data = state.data();
    let existing = custom_id
        .as_ref()
        .and_then(|c| data.custom_ids.get(c).cloned());
    let (id, status) = match existing {
        Some(id) => (id, 200),
        None => {
            let id = format!("8:acs:{}_{}", state.config().resource_id, Uuid::new_v4());
            let record = IdentityRecord {
                custom_id: custom_id.clone(),
                last_token_issued_at: None,
            };
            data.identities.insert(id.clone(), record);
            if let Some(custom_id) = custom_id {
                data.custom_ids.insert(custom_id, id.clone());
            }
            (id, 201)
        }
    };

    let token = (!scopes.is_empty()).then(|| issue_token(state, &mut data, &id, &scopes, minutes));
    let mut answer = json!({ "identity": identity_json(&data, &id, version) });
    if let Some(token) = token {
        answer["accessToken"] = token;
    }
    Ok(json_response(status, &answer))
}

/// `GET /identities/{id}` (2025-03-02-preview only).
pub(super) async fn get_identity(
    State(state): State<EmulatorState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response<Body> {
    Family::Identity.finish(get(&state, &id, query.as_deref()))
}

fn get(state: &EmulatorState, id: &str, query: Option<&str>) -> Result<Response<Body>, AcsError> {
    let requested = Family::Identity.api_version(query)?;
    if requested != "2025-03-02-preview" {
        return Err(unsupported_version(requested));
    }
    let data = state.data();
    if !data.identities.contains_key(id) {
        return Err(identity_not_found());
    }
    Ok(json_response(
        200,
        &identity_json(&data, id, Version::Preview2025_03_02),
    ))
}

/// `DELETE /identities/{id}`: 204, or 404 for an unknown or already deleted identity.
pub(super) async fn delete_identity(
    State(state): State<EmulatorState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response<Body> {
    Family::Identity.finish(delete(&state, &id, query.as_deref()))
}

fn delete(
    state: &EmulatorState,
    id: &str,
    query: Option<&str>,
) -> Result<Response<Body>, AcsError> {
    version(query)?;
    let mut data = state.data();
    let record = data.identities.remove(id).ok_or_else(identity_not_found)?;
    if let Some(custom_id) = record.custom_id {
        data.custom_ids.remove(&custom_id);
    }
    Ok(no_content())
}

/// `POST /identities/{id}/:issueAccessToken` and `POST /identities/{id}/:revokeAccessTokens`.
pub(super) async fn identity_action(
    State(state): State<EmulatorState>,
    Path((id, action)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response<Body> {
    let result = match action.as_str() {
        ":issueAccessToken" => issue(&state, &id, query.as_deref(), &body),
        ":revokeAccessTokens" => revoke(&state, &id, query.as_deref()),
        _ => Err(AcsError::new(
            404,
            "NotFound",
            "The requested resource was not found.",
        )),
    };
    Family::Identity.finish(result)
}

fn issue(
    state: &EmulatorState,
    id: &str,
    query: Option<&str>,
    body: &[u8],
) -> Result<Response<Body>, AcsError> {
    let version = version(query)?;
    // Body validation comes before the lookup, as model validation does in the real service.
    let body = object(parse_body(body, true)?)?;
    let scopes = match body.get("scopes") {
        None | Some(Value::Null) => {
            return Err(AcsError::validation(
                "Scopes: The Scopes field is required.",
                "Scopes",
            ));
        }
        Some(value) => scopes(value, version)?,
    };
    let minutes = expires_in_minutes(&body, version)?;

    let mut data = state.data();
    if !data.identities.contains_key(id) {
        return Err(identity_not_found());
    }
    let token = issue_token(state, &mut data, id, &scopes, minutes);
    Ok(json_response(200, &token))
}

fn revoke(
    state: &EmulatorState,
    id: &str,
    query: Option<&str>,
) -> Result<Response<Body>, AcsError> {
    version(query)?;
    // Nothing validates ACS user tokens here, so revocation only has to know the identity.
    if !state.data().identities.contains_key(id) {
        return Err(identity_not_found());
    }
    Ok(no_content())
}

fn identity_not_found() -> AcsError {
    AcsError::new(404, "IdentityNotFound", "The identity was not found.")
}

fn object(body: Value) -> Result<Map<String, Value>, AcsError> {
    match body {
        Value::Object(map) => Ok(map),
        _ => Err(AcsError::new(
            400,
            "InvalidRequestBody",
            "The request body must be a JSON object.",
        )),
    }
}

/// `customId` exists only in 2025-03-02-preview; 1 to 256 characters.
fn custom_id(body: &Map<String, Value>, version: Version) -> Result<Option<String>, AcsError> {
    let value = match body.get("customId") {
        None | Some(Value::Null) => return Ok(None),
        Some(value) => value,
    };
    if version != Version::Preview2025_03_02 {
        return Err(AcsError::validation(
            "customId is not supported in this api-version; use 2025-03-02-preview.",
            "customId",
        ));
    }
    match value.as_str() {
        Some(custom_id) if (1..=256).contains(&custom_id.chars().count()) => {
            Ok(Some(custom_id.to_owned()))
        }
        _ => Err(AcsError::validation(
            "customId must be a string of 1 to 256 characters.",
            "customId",
        )),
    }
}

/// The `identity` object; the preview adds `customId` and `lastTokenIssuedAt` when known.
fn identity_json(data: &Data, id: &str, version: Version) -> Value {
    let mut identity = json!({ "id": id });
    if version == Version::Preview2025_03_02
        && let Some(record) = data.identities.get(id)
    {
        if let Some(custom_id) = &record.custom_id {
            identity["customId"] = json!(custom_id);
        }
        if let Some(at) = record.last_token_issued_at {
            identity["lastTokenIssuedAt"] = json!(timefmt::dotnet_round_trip(at));
        }
    }
    identity
}
