//! ACS Identity: create users and issue, revoke and delete their access.
//!
//! REST reference: `POST /identities`, `POST /identities/{id}/:issueAccessToken`,
//! `POST /identities/{id}/:revokeAccessTokens`, `DELETE /identities/{id}`.

use super::{AcsClient, AcsError, CallContext, json_body, parse_body};
use crate::scope::Scope;
use azure_core::http::Method;
use serde::{Deserialize, Serialize};

/// The GA Identity version: the first with the `.join` scopes.
pub const API_VERSION: &str = "2023-10-01";
/// The only version that knows `customId`; used for that call alone.
pub const CUSTOM_ID_API_VERSION: &str = "2025-03-02-preview";

/// What to create: an identity, and a token for it when `scopes` is not empty.
#[derive(Debug, Clone, Default)]
pub struct CreateUser<'a> {
    pub scopes: &'a [Scope],
    pub expires_in_minutes: Option<u32>,
    /// Makes the call idempotent: the same custom id always yields the same identity.
    pub custom_id: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateRequest<'a> {
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    create_token_with_scopes: &'a [Scope],
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_in_minutes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    custom_id: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccessTokenRequest<'a> {
    scopes: &'a [Scope],
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_in_minutes: Option<u32>,
}

/// An ACS user, as ACS describes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub id: String,
    #[serde(default)]
    pub custom_id: Option<String>,
}

/// A user access token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessToken {
    pub token: String,
    /// As ACS formats it, e.g. `2023-01-17T13:48:04.3931159+00:00` (RFC 3339).
    pub expires_on: String,
}

/// The answer to [`AcsClient::create_user`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedUser {
    pub identity: Identity,
    #[serde(default)]
    pub access_token: Option<AccessToken>,
}

impl AcsClient {
    /// Creates an identity, with a token when `options.scopes` is not empty.
    ///
    /// With a custom id the call goes to the preview version and is idempotent: ACS answers 201
    /// for a new identity and may answer 200 for an existing one; both are success.
    pub async fn create_user(
        &self,
        cx: &CallContext,
        options: &CreateUser<'_>,
    ) -> Result<CreatedUser, AcsError> {
        let version = if options.custom_id.is_some() {
            CUSTOM_ID_API_VERSION
        } else {
            API_VERSION
        };
        let mut request = self.request(Method::Post, (&["identities"], None), version, cx);
        let body = CreateRequest {
            create_token_with_scopes: options.scopes,
            expires_in_minutes: options.expires_in_minutes,
            custom_id: options.custom_id,
        };
        if body.create_token_with_scopes.is_empty()
            && body.expires_in_minutes.is_none()
            && body.custom_id.is_none()
        {
            // Nothing to say: ACS takes an empty body, as the official SDKs send it.
            request.set_body(Vec::new());
        } else {
            json_body(&mut request, &body);
        }

        let response = self.send(request).await?;
        let created: CreatedUser = parse_body(&response, "create identity")?;
        if !options.scopes.is_empty() && created.access_token.is_none() {
            return Err(AcsError::InvalidResponse(
                "create identity: no accessToken in the answer".into(),
            ));
        }
        Ok(created)
    }

    /// Issues a token for an existing identity.
    pub async fn issue_token(
        &self,
        cx: &CallContext,
        id: &str,
        scopes: &[Scope],
        expires_in_minutes: Option<u32>,
    ) -> Result<AccessToken, AcsError> {
        let target = (&["identities", id][..], Some(":issueAccessToken"));
        let mut request = self.request(Method::Post, target, API_VERSION, cx);
        json_body(
            &mut request,
            &AccessTokenRequest {
                scopes,
                expires_in_minutes,
            },
        );
        let response = self.send(request).await?;
        parse_body(&response, "issue token")
    }

    /// Revokes every token issued to the identity (ACS answers 204).
    pub async fn revoke_tokens(&self, cx: &CallContext, id: &str) -> Result<(), AcsError> {
        let target = (&["identities", id][..], Some(":revokeAccessTokens"));
        let mut request = self.request(Method::Post, target, API_VERSION, cx);
        request.set_body(Vec::new());
        self.send(request).await.map(drop)
    }

    /// Deletes the identity, its tokens and its data (ACS answers 204).
    pub async fn delete_user(&self, cx: &CallContext, id: &str) -> Result<(), AcsError> {
        let request = self.request(Method::Delete, (&["identities", id], None), API_VERSION, cx);
        self.send(request).await.map(drop)
    }
}
