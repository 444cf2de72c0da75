//! ACS user access tokens: validation of the token request fields and minting (acs-rest.md
//! §6.3, §6.4).

use serde_json::{Map, Value, json};

use super::acs_common::AcsError;
use super::acs_identity::Version;
use super::jwt;
use super::state::{Data, EmulatorState};
use super::timefmt::{self, OffsetDateTime};

/// Validates a scope list; the `.join` scopes exist from 2023-10-01 on.
pub(super) fn scopes(value: &Value, version: Version) -> Result<Vec<String>, AcsError> {
    let invalid =
        |scope: &str| AcsError::validation(&format!("Scope '{scope}' is invalid."), "Scopes");
    let Value::Array(items) = value else {
        return Err(invalid(&value.to_string()));
    };
    items
        .iter()
        .map(|item| {
            let scope = item.as_str().ok_or_else(|| invalid(&item.to_string()))?;
            let known = match scope {
                "chat" | "voip" => true,
                "chat.join" | "chat.join.limited" | "voip.join" => version >= Version::V2023_10_01,
                _ => false,
            };
            if known {
                Ok(scope.to_owned())
            } else {
                Err(invalid(scope))
            }
        })
        .collect()
}

/// `expiresInMinutes`, [60, 1440], default 1440. Before 2022-10-01 the field does not exist
/// and, like any unknown property, is ignored.
pub(super) fn expires_in_minutes(
    body: &Map<String, Value>,
    version: Version,
) -> Result<i64, AcsError> {
    let value = match body.get("expiresInMinutes") {
        Some(value) if version >= Version::V2022_10_01 && !value.is_null() => value,
        _ => return Ok(1440),
    };
    let minutes = value.as_i64().ok_or_else(|| {
        AcsError::validation("The field ExpiresInMinutes is invalid.", "ExpiresInMinutes")
    })?;
    if !(60..=1440).contains(&minutes) {
        return Err(AcsError::validation(
            &format!(
                "ExpiresInMinutes value {minutes} is invalid. \
                 Value must be within the [60, 1440] interval."
            ),
            "ExpiresInMinutes",
        ));
    }
    Ok(minutes)
}

/// Mints an ACS user token and returns `{"token","expiresOn"}`.
pub(super) fn issue_token(
    state: &EmulatorState,
    data: &mut Data,
    id: &str,
    scopes: &[String],
    minutes: i64,
) -> Value {
    let issued_at: OffsetDateTime = timefmt::now();
    let expires_on = issued_at + azure_core::time::Duration::minutes(minutes);
    let iat = issued_at.unix_timestamp();
    let config = state.config();

    let claims = json!({
        "skypeid": id.strip_prefix("8:").unwrap_or(id),
        "scp": 1792,
        "csi": iat.to_string(),
        "exp": expires_on.unix_timestamp(),
        "acsScope": scopes.join(","),
        "resourceId": config.resource_id.to_string(),
        "iat": iat,
    });
    let header = json!({ "alg": "HS256", "kid": "1", "typ": "JWT" });
    let token = jwt::sign(&header, &claims, &config.acs_token_key);

    if let Some(record) = data.identities.get_mut(id) {
        record.last_token_issued_at = Some(issued_at);
    }
    json!({ "token": token, "expiresOn": timefmt::dotnet_round_trip(expires_on) })
}
