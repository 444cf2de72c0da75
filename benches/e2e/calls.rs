//! The requests the benchmark sends: each function through the handler, and the same ACS call
//! made straight to the emulator with a bearer token (the floor any server must pay).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use std::time::SystemTime;

/// The sender `SMS_FROM` names; the emulated resource owns it.
pub const SENDER: &str = "+18005550100";
/// Every SMS goes to this number; rate limits are off, so repeating it is fine.
const RECIPIENT: &str = "+14255550123";
const MESSAGE: &str = "Your code is 123456";

/// One kind of request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Call {
    /// `POST /api/token` on the handler.
    Token,
    /// `POST /api/sms` on the handler.
    Sms,
    /// `POST /identities` on the emulator: what the handler sends for `Token`.
    FloorToken,
    /// `POST /sms` on the emulator: what the handler sends for `Sms`.
    FloorSms,
}

/// What a floor request needs besides its body.
#[derive(Clone)]
pub struct Floor {
    /// `Authorization` value, fetched once from the emulated identity endpoint.
    pub authorization: String,
    /// `Host` of the emulator's ACS API.
    pub host: String,
}

impl Call {
    pub fn name(self) -> &'static str {
        match self {
            Call::Token => "POST /api/token",
            Call::Sms => "POST /api/sms",
            Call::FloorToken => "POST /identities (floor)",
            Call::FloorSms => "POST /sms (floor)",
        }
    }

    /// The floor twin of a handler call.
    pub fn floor(self) -> Call {
        match self {
            Call::Token | Call::FloorToken => Call::FloorToken,
            Call::Sms | Call::FloorSms => Call::FloorSms,
        }
    }

    /// The status a success carries; anything else fails the run.
    pub fn expected(self) -> StatusCode {
        match self {
            Call::Token => StatusCode::OK,
            Call::FloorToken => StatusCode::CREATED,
            Call::Sms | Call::FloorSms => StatusCode::ACCEPTED,
        }
    }

    pub fn request(self, floor: &Floor) -> Request<Body> {
        match self {
            Call::Token => handler_post("/api/token", r#"{"scopes":["voip"]}"#.to_owned()),
            Call::Sms => handler_post(
                "/api/sms",
                format!(r#"{{"to":"{RECIPIENT}","message":"{MESSAGE}"}}"#),
            ),
            Call::FloorToken => floor_post(
                floor,
                "/identities?api-version=2023-10-01",
                r#"{"createTokenWithScopes":["voip"]}"#.to_owned(),
            ),
            Call::FloorSms => floor_post(floor, "/sms?api-version=2021-03-07", floor_sms_body()),
        }
    }
}

fn handler_post(path: &str, body: String) -> Request<Body> {
    Request::post(path)
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("a valid request")
}

/// The headers an ACS SDK sends, minus telemetry.
fn floor_post(floor: &Floor, path: &str, body: String) -> Request<Body> {
    Request::post(path)
        .header("host", floor.host.as_str())
        .header("authorization", floor.authorization.as_str())
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("x-ms-client-request-id", uuid::Uuid::new_v4().to_string())
        .body(Body::from(body))
        .expect("a valid request")
}

/// The body the handler builds for one recipient: a fresh repeatability pair per send.
fn floor_sms_body() -> String {
    let id = uuid::Uuid::new_v4();
    let first_sent = httpdate::fmt_http_date(SystemTime::now());
    format!(
        r#"{{"from":"{SENDER}","smsRecipients":[{{"to":"{RECIPIENT}","repeatabilityRequestId":"{id}","repeatabilityFirstSent":"{first_sent}"}}],"message":"{MESSAGE}","smsSendOptions":{{"enableDeliveryReport":false}}}}"#
    )
}
