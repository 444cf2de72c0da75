//! The one credential the handler authenticates to ACS with.

use crate::config::AuthSettings;
use azure_core::{
    credentials::TokenCredential,
    http::{ClientOptions, ExponentialRetryOptions, RetryOptions},
    time::Duration,
};
use azure_identity::{
    DeveloperToolsCredential, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    UserAssignedId,
};
use std::sync::Arc;

/// Builds the credential `auth` names. No token is fetched here: the first ACS call does that,
/// and the credential caches it until shortly before it expires.
pub fn build(auth: &AuthSettings) -> azure_core::Result<Arc<dyn TokenCredential>> {
    Ok(match auth {
        AuthSettings::ManagedIdentity { client_id } => {
            // The crate's default retries a dead identity endpoint for a minute; a caller would
            // rather hear "try again" (503) within seconds.
            let retry = ExponentialRetryOptions {
                initial_delay: Duration::milliseconds(200),
                max_retries: 3,
                max_total_elapsed: Duration::seconds(8),
                max_delay: Duration::seconds(2),
            };
            let options = ManagedIdentityCredentialOptions {
                user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
                client_options: ClientOptions {
                    retry: RetryOptions::exponential(retry),
                    ..Default::default()
                },
            };
            ManagedIdentityCredential::new(Some(options))?
        }
        AuthSettings::DeveloperTools => DeveloperToolsCredential::new(None)?,
    })
}
