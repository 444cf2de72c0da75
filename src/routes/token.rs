//! `POST /api/token`: an ACS user and an access token for it; `DELETE /api/token`: sign-out.

use super::AppState;
use crate::{
    acs::{AcsError, CallContext, identity::CreateUser},
    config::IdentityMapping,
    error::ApiError,
    extract::JsonBody,
    principal::Principal,
    scope::Scope,
};
use axum::{
    Json,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
};
use serde::{Deserialize, Serialize};
use std::{collections::HashMap, sync::Arc};

/// Token lifetimes ACS accepts, in minutes.
pub const EXPIRY_RANGE: std::ops::RangeInclusive<i64> = 60..=1440;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRequest {
    scopes: Option<Vec<String>>,
    expires_in_minutes: Option<i64>,
}

/// The shape ACS frontends already consume (`CommunicationUserToken`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    token: String,
    expires_on: String,
    user: User,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    communication_user_id: String,
}

/// Issues a token in one ACS call: for a new identity, or, with identity mapping, for the
/// caller's own identity (created on first use), so a refresh is simply another `POST`.
pub async fn issue_token(
    State(state): State<Arc<AppState>>,
    cx: CallContext,
    headers: HeaderMap,
    JsonBody(body): JsonBody<TokenRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let custom_id = caller_custom_id(state.settings.token.mapping, &headers)?;
    let request = body.unwrap_or_default();
    let scopes = parse_scopes(request.scopes, &state.settings.token.allowed_scopes)?;
    let expires_in_minutes = parse_expiry(request.expires_in_minutes)?;

    let options = CreateUser {
        scopes: &scopes,
        expires_in_minutes,
        custom_id: custom_id.as_deref(),
    };
    let created = state.acs.create_user(&cx, &options).await?;

    // `create_user` guarantees a token whenever scopes were asked for, and they always are.
    let token = created
        .access_token
        .ok_or_else(|| ApiError::from(AcsError::InvalidResponse("no accessToken".into())))?;
    Ok(Json(TokenResponse {
        token: token.token,
        expires_on: token.expires_on,
        user: User {
            communication_user_id: created.identity.id,
        },
    }))
}

/// Revokes every token of the signed-in caller's ACS identity; with `?deleteIdentity=true`
/// deletes the identity as well. Only mapped callers have an identity to act on, and only their
/// own: the ACS id is looked up from the principal, never taken from the request.
pub async fn revoke_tokens(
    State(state): State<Arc<AppState>>,
    cx: CallContext,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    let Some(custom_id) = caller_custom_id(state.settings.token.mapping, &headers)? else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "IdentityMappingDisabled",
            "revoking tokens needs signed-in callers (TOKEN_IDENTITY_MAPPING=easyauth)",
        ));
    };
    let delete_identity = match query
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("deleteIdentity"))
    {
        None => false,
        Some((_, v)) if v.eq_ignore_ascii_case("true") => true,
        Some((_, v)) if v.eq_ignore_ascii_case("false") => false,
        Some(_) => {
            return Err(ApiError::invalid(
                "deleteIdentity",
                "deleteIdentity must be true or false",
            ));
        }
    };

    // Creating by custom id is idempotent: it returns the caller's existing identity.
    let options = CreateUser {
        custom_id: Some(&custom_id),
        ..CreateUser::default()
    };
    let id = state.acs.create_user(&cx, &options).await?.identity.id;
    state.acs.revoke_tokens(&cx, &id).await?;
    if delete_identity {
        state.acs.delete_user(&cx, &id).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's ACS `customId` under identity mapping; `None` when mapping is off.
fn caller_custom_id(
    mapping: IdentityMapping,
    headers: &HeaderMap,
) -> Result<Option<String>, ApiError> {
    match mapping {
        IdentityMapping::None => Ok(None),
        IdentityMapping::EasyAuth => Principal::from_headers(headers).map(|p| Some(p.custom_id())),
    }
}

/// Scopes from the request (default `voip`), each known and allowed by `TOKEN_ALLOWED_SCOPES`.
pub fn parse_scopes(
    requested: Option<Vec<String>>,
    allowed: &[Scope],
) -> Result<Vec<Scope>, ApiError> {
    let requested = requested.unwrap_or_else(|| vec![Scope::Voip.as_str().to_owned()]);
    if requested.is_empty() {
        return Err(ApiError::invalid(
            "scopes",
            "scopes must name at least one scope",
        ));
    }
    let mut scopes = Vec::with_capacity(requested.len());
    for name in requested {
        let scope: Scope = name.parse().map_err(|_| {
            ApiError::invalid("scopes", format!("unknown scope '{}'", printable(&name)))
        })?;
        if !allowed.contains(&scope) {
            return Err(ApiError::invalid(
                "scopes",
                format!("scope '{scope}' is not allowed here (TOKEN_ALLOWED_SCOPES)"),
            ));
        }
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    Ok(scopes)
}

/// `expiresInMinutes` within ACS's bounds, checked here so a bad value costs no ACS call.
pub fn parse_expiry(minutes: Option<i64>) -> Result<Option<u32>, ApiError> {
    match minutes {
        None => Ok(None),
        Some(m) if EXPIRY_RANGE.contains(&m) => Ok(u32::try_from(m).ok()),
        Some(m) => Err(ApiError::invalid(
            "expiresInMinutes",
            format!("expiresInMinutes must be within [60, 1440]; got {m}"),
        )),
    }
}

/// A caller-supplied name, shortened and stripped of control characters before it is echoed.
fn printable(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_default_to_voip_and_respect_the_allow_list() {
        assert_eq!(
            parse_scopes(None, &[Scope::Voip]).unwrap(),
            vec![Scope::Voip]
        );
        let both = vec!["chat".into(), "voip".into(), "chat".into()];
        assert_eq!(
            parse_scopes(Some(both), &Scope::ALL).unwrap(),
            vec![Scope::Chat, Scope::Voip]
        );
        let err = parse_scopes(Some(vec!["chat".into()]), &[Scope::Voip]).unwrap_err();
        assert!(err.message.contains("'chat'"));
        let err = parse_scopes(Some(vec!["admin".into()]), &Scope::ALL).unwrap_err();
        assert!(err.message.contains("'admin'"));
        assert!(parse_scopes(Some(vec![]), &Scope::ALL).is_err());
    }

    #[test]
    fn expiry_bounds_are_inclusive() {
        assert_eq!(parse_expiry(Some(60)).unwrap(), Some(60));
        assert_eq!(parse_expiry(Some(1440)).unwrap(), Some(1440));
        assert_eq!(parse_expiry(None).unwrap(), None);
        for bad in [59, 1441, 0, -1, i64::MAX] {
            assert_eq!(
                parse_expiry(Some(bad)).unwrap_err().target.as_deref(),
                Some("expiresInMinutes")
            );
        }
    }
}
