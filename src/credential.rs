//! The one credential the handler authenticates to ACS with.

use crate::config::AuthSettings;
use azure_core::credentials::TokenCredential;
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
            let options = ManagedIdentityCredentialOptions {
                user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
                ..Default::default()
            };
            ManagedIdentityCredential::new(Some(options))?
        }
        AuthSettings::DeveloperTools => DeveloperToolsCredential::new(None)?,
    })
}
