//! The App Service managed-identity token endpoint (protocol 2019-08-01), as `azure_identity`'s
//! `ManagedIdentityCredential` calls it through `IDENTITY_ENDPOINT` and `IDENTITY_HEADER`
//! (azure-conventions.md §4).

use std::time::SystemTime;

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Value, json};

use super::jwt;
use super::state::{EmulatorState, RecordedRequest};

const PATH: &str = "/msi/token";
const API_VERSION: &str = "2019-08-01";

/// Answers one request to the identity server.
pub(super) fn handle(state: &EmulatorState, request: &RecordedRequest) -> Response<Body> {
    if request.path != PATH {
        return error(404, "NotFound", "Only /msi/token is served here.");
    }
    if request.method != "GET" {
        return error(405, "MethodNotAllowed", "Use GET.");
    }
    // Compared only for equality; the secret is never logged or echoed.
    if request.header("x-identity-header") != Some(state.config().identity_header.as_str()) {
        return error(
            401,
            "UnauthorizedRequest",
            "X-IDENTITY-HEADER is missing or does not match IDENTITY_HEADER.",
        );
    }
    if request.query_param("api-version").as_deref() != Some(API_VERSION) {
        return error(400, "BadRequest", "api-version must be 2019-08-01.");
    }
    let Some(resource) = request.query_param("resource").filter(|r| !r.is_empty()) else {
        return error(
            400,
            "BadRequest",
            "The resource query parameter is required.",
        );
    };

    let config = state.config();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let expires_on = now + config.managed_identity_token_lifetime.as_secs();
    // A user-assigned identity is asked for by client id; answer as that identity if the app
    // has it. Other ways of naming one are refused: the emulated app has no identity known by
    // its object or resource id.
    let client_id = match request.query_param("client_id") {
        None => config.managed_identity_client_id.to_string(),
        Some(id) if config.user_assigned_client_ids.contains(&id) => id,
        Some(_) => return unknown_identity(),
    };
    if ["object_id", "principal_id", "mi_res_id"]
        .iter()
        .any(|name| request.query_param(name).is_some())
    {
        return unknown_identity();
    }
    let object_id = config.managed_identity_object_id.to_string();

    let claims = json!({
        "aud": resource,
        "iat": now,
        "nbf": now,
        "exp": expires_on,
        "oid": object_id,
        "appid": client_id,
    });
    let token = jwt::sign(
        &json!({"alg": "HS256", "typ": "JWT"}),
        &claims,
        &config.managed_identity_key,
    );
    state
        .data()
        .issued_managed_identity_tokens
        .push(token.clone());

    // `azure_identity` requires `expires_on` as a string of epoch seconds.
    json(
        200,
        &json!({
            "access_token": token,
            "expires_on": expires_on.to_string(),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": client_id,
        }),
    )
}

/// The App Service endpoint's answer for an identity the app does not have.
fn unknown_identity() -> Response<Body> {
    json(
        400,
        &json!({
            "statusCode": 400,
            "message": "Unable to load the proper Managed Identity.",
            "correlationId": uuid::Uuid::new_v4().to_string(),
        }),
    )
}

fn error(status: u16, code: &str, message: &str) -> Response<Body> {
    json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

fn json(status: u16, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}
