//! The one credential the handler authenticates to ACS with, as a pipeline policy.

use crate::{
    acs::{ACS_SCOPE, hmac::AccessKeyPolicy},
    config::AuthSettings,
};
use azure_core::{
    credentials::TokenCredential,
    http::{
        ClientOptions, ExponentialRetryOptions, RetryOptions,
        policies::{Policy, auth::BearerTokenAuthorizationPolicy},
    },
    time::Duration,
};
use azure_identity::{
    DeveloperToolsCredential, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    UserAssignedId,
};
use std::sync::Arc;

/// Builds the policy that authorizes every ACS request the way `auth` says: bearer tokens from
/// a managed identity or the developer tools, or access-key signatures.
///
/// No token is fetched here: the first ACS call does that, and the credential caches it until
/// shortly before it expires.
pub fn auth_policy(auth: &AuthSettings) -> azure_core::Result<Arc<dyn Policy>> {
    let credential: Arc<dyn TokenCredential> = match auth {
        AuthSettings::ManagedIdentity { client_id } => managed_identity(client_id.clone())?,
        AuthSettings::AccessKey(key) => return Ok(Arc::new(AccessKeyPolicy::new(key.clone()))),
        AuthSettings::DeveloperTools => DeveloperToolsCredential::new(None)?,
    };
    Ok(Arc::new(BearerTokenAuthorizationPolicy::new(
        credential,
        [ACS_SCOPE],
    )))
}

fn managed_identity(client_id: Option<String>) -> azure_core::Result<Arc<dyn TokenCredential>> {
    // The crate's default retries a dead identity endpoint for a minute; a caller would rather
    // hear "try again" (503) within seconds.
    let retry = ExponentialRetryOptions {
        initial_delay: Duration::milliseconds(200),
        max_retries: 3,
        max_total_elapsed: Duration::seconds(8),
        max_delay: Duration::seconds(2),
    };
    let options = ManagedIdentityCredentialOptions {
        user_assigned_id: client_id.map(UserAssignedId::ClientId),
        client_options: ClientOptions {
            retry: RetryOptions::exponential(retry),
            ..Default::default()
        },
    };
    Ok(ManagedIdentityCredential::new(Some(options))?)
}
