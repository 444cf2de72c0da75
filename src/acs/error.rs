//! Failures of an ACS call, with ACS's own status and error code kept.

use serde_json::Value;
use std::fmt;

/// Longest raw (non-JSON) error body kept for a message; the rest is dropped.
const RAW_BODY_LIMIT: usize = 300;

/// Why an ACS call did not produce a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcsError {
    /// ACS answered with a non-success status.
    Service {
        status: u16,
        /// `error.code` (or the closest thing the body offers).
        code: Option<String>,
        message: String,
        /// `error.target`, or the field a validation dictionary names.
        target: Option<String>,
        /// `Retry-After` as ACS sent it, for 429 and 503.
        retry_after: Option<String>,
    },
    /// No token could be obtained for ACS (managed identity or developer tools unavailable).
    Credential(String),
    /// The connection failed or was reset.
    Transport(String),
    /// No answer within the request deadline.
    Timeout,
    /// ACS answered success with a body we could not read.
    InvalidResponse(String),
}

impl fmt::Display for AcsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcsError::Service {
                status,
                code,
                message,
                ..
            } => {
                write!(f, "ACS answered {status}")?;
                if let Some(code) = code {
                    write!(f, " {code}")?;
                }
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            AcsError::Credential(message) => write!(f, "no token for ACS: {message}"),
            AcsError::Transport(message) => write!(f, "ACS unreachable: {message}"),
            AcsError::Timeout => f.write_str("ACS did not answer within the request deadline"),
            AcsError::InvalidResponse(message) => write!(f, "unreadable ACS response: {message}"),
        }
    }
}

impl std::error::Error for AcsError {}

impl AcsError {
    /// Builds a [`AcsError::Service`] from an error response, reading every body shape ACS uses:
    /// the Azure envelope `{"error": {"code", "message", "target"}}`, RFC 7807 problem details
    /// (`title` and `errors`), the bare validation dictionary of SMS 2021-03-07
    /// (`{"From": ["..."]}`), and finally plain text.
    pub fn from_response(status: u16, body: &[u8], retry_after: Option<String>) -> Self {
        let (code, message, target) = parse_error_body(body);
        AcsError::Service {
            status,
            code,
            message,
            target,
            retry_after,
        }
    }

    /// Whether the operation certainly had no effect: it never reached ACS (no token), or ACS
    /// refused it whole (a 4xx). After a 5xx, a dropped connection, a timeout or an unreadable
    /// answer, it may have taken effect.
    pub fn had_no_effect(&self) -> bool {
        match self {
            AcsError::Credential(_) => true,
            AcsError::Service { status, .. } => (400..500).contains(status),
            AcsError::Transport(_) | AcsError::Timeout | AcsError::InvalidResponse(_) => false,
        }
    }

    /// The HTTP status ACS answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            AcsError::Service { status, .. } => Some(*status),
            _ => None,
        }
    }
}

fn parse_error_body(body: &[u8]) -> (Option<String>, String, Option<String>) {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return (None, raw_text(body), None);
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);

    if let Some(error) = value.get("error").filter(|e| e.is_object()) {
        let message = text(error.get("message")).unwrap_or_default();
        return (text(error.get("code")), message, text(error.get("target")));
    }

    if let Some(title) = value.get("title").and_then(Value::as_str) {
        let (target, details) = first_field_errors(value.get("errors"));
        let message = match details {
            Some(details) => format!("{title} {details}"),
            None => title.to_owned(),
        };
        return (Some("ValidationError".to_owned()), message, target);
    }

    if value.is_object() {
        let (target, details) = first_field_errors(Some(&value));
        if let Some(details) = details {
            return (Some("ValidationError".to_owned()), details, target);
        }
    }
    (None, raw_text(body), None)
}

/// Reads a `{"Field": ["message", ...]}` dictionary: the first field and all its messages.
fn first_field_errors(errors: Option<&Value>) -> (Option<String>, Option<String>) {
    let Some(map) = errors.and_then(Value::as_object) else {
        return (None, None);
    };
    let Some((field, messages)) = map.iter().find(|(_, v)| v.is_array()) else {
        return (None, None);
    };
    let joined: Vec<&str> = messages
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    (Some(field.clone()), Some(joined.join(" ")))
}

fn raw_text(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(RAW_BODY_LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> (Option<String>, String, Option<String>) {
        parse_error_body(body.as_bytes())
    }

    #[test]
    fn reads_the_azure_error_envelope() {
        let (code, message, target) = parse(
            r#"{"error":{"code":"ValidationError","message":"ExpiresInMinutes value 59 is invalid. Value must be within the [60, 1440] interval.","target":"ExpiresInMinutes"}}"#,
        );
        assert_eq!(code.as_deref(), Some("ValidationError"));
        assert!(message.starts_with("ExpiresInMinutes value 59"));
        assert_eq!(target.as_deref(), Some("ExpiresInMinutes"));
    }

    #[test]
    fn reads_an_empty_unauthorized_message() {
        let (code, message, _) = parse(r#"{"error":{"code":"Unauthorized","message":""}}"#);
        assert_eq!(code.as_deref(), Some("Unauthorized"));
        assert_eq!(message, "");
    }

    #[test]
    fn reads_problem_details() {
        let (code, message, target) = parse(
            r#"{"type":"https://tools.ietf.org/html/rfc9110#section-15.5.1","title":"One or more validation errors occurred.","status":400,"errors":{"SmsRecipients":["Invalid recipient phone number format."]},"traceId":"00-be8d0cac83cc01715e39bc84c2d10c61-5d7b25cd36751c3d-00"}"#,
        );
        assert_eq!(code.as_deref(), Some("ValidationError"));
        assert_eq!(
            message,
            "One or more validation errors occurred. Invalid recipient phone number format."
        );
        assert_eq!(target.as_deref(), Some("SmsRecipients"));
    }

    #[test]
    fn reads_the_bare_validation_dictionary() {
        let (code, message, target) = parse(r#"{"From":["Invalid From phone number format"]}"#);
        assert_eq!(code.as_deref(), Some("ValidationError"));
        assert_eq!(message, "Invalid From phone number format");
        assert_eq!(target.as_deref(), Some("From"));
    }

    #[test]
    fn keeps_raw_text_and_bounds_it() {
        assert_eq!(parse("upstream connect error").1, "upstream connect error");
        assert_eq!(parse("").1, "");
        let long = "x".repeat(1000);
        assert_eq!(parse(&long).1.chars().count(), RAW_BODY_LIMIT + 1);
        assert_eq!(parse("[1,2]").1, "[1,2]");
    }

    #[test]
    fn keeps_status_and_retry_after() {
        let err = AcsError::from_response(429, b"", Some("3".into()));
        assert_eq!(err.status(), Some(429));
        assert!(matches!(err, AcsError::Service { retry_after: Some(ref r), .. } if r == "3"));
    }
}
