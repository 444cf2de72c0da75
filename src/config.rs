//! Settings, read once from the environment at start-up.
//!
//! In Azure every app setting is an environment variable; under Functions Core Tools the `Values`
//! of `local.settings.json` are. Each error names the variable it is about and never echoes a
//! value that could be a secret.

use crate::{acs::hmac::AccessKey, calling_codes, scope::Scope, sender::Sender};
use std::fmt;
use url::Url;

/// Port used when `FUNCTIONS_CUSTOMHANDLER_PORT` is unset (a standalone run, not under the host).
pub const DEFAULT_PORT: u16 = 3000;

pub const PORT_VAR: &str = "FUNCTIONS_CUSTOMHANDLER_PORT";
pub const ENDPOINT_VAR: &str = "COMMUNICATION_SERVICES_ENDPOINT";
pub const CONNECTION_STRING_VAR: &str = "COMMUNICATION_SERVICES_CONNECTION_STRING";
pub const SMS_FROM_VAR: &str = "SMS_FROM";
pub const IDENTITY_ENDPOINT_VAR: &str = "IDENTITY_ENDPOINT";
pub const IDENTITY_HEADER_VAR: &str = "IDENTITY_HEADER";
pub const CLIENT_ID_VAR: &str = "AZURE_CLIENT_ID";
pub const ALLOWED_SCOPES_VAR: &str = "TOKEN_ALLOWED_SCOPES";
pub const IDENTITY_MAPPING_VAR: &str = "TOKEN_IDENTITY_MAPPING";
pub const ALLOWED_SENDERS_VAR: &str = "SMS_ALLOWED_SENDERS";
pub const ALLOWED_COUNTRY_CODES_VAR: &str = "SMS_ALLOWED_COUNTRY_CODES";
pub const MAX_RECIPIENTS_VAR: &str = "SMS_MAX_RECIPIENTS";
pub const DEADLINE_VAR: &str = "ACS_REQUEST_DEADLINE_SECONDS";
pub const PER_NUMBER_LIMIT_VAR: &str = "SMS_LIMIT_PER_NUMBER_PER_HOUR";
pub const PER_CALLER_LIMIT_VAR: &str = "SMS_LIMIT_PER_CALLER_PER_MINUTE";
pub const WORKER_THREADS_VAR: &str = "HANDLER_WORKER_THREADS";
/// Set to `true` by the platform when App Service Authentication is on.
pub const AUTH_ENABLED_VAR: &str = "WEBSITE_AUTH_ENABLED";

/// Default messages to one number per hour, per instance.
pub const DEFAULT_PER_NUMBER_LIMIT: u32 = 10;
/// Default SMS requests from one caller per minute, per instance.
pub const DEFAULT_PER_CALLER_LIMIT: u32 = 60;

/// ACS takes at most 100 recipients per send; also the default.
pub const MAX_RECIPIENTS: usize = 100;
/// Default bound on one ACS operation, retries included: well under the ~230 s after which
/// Azure's front end gives up on an HTTP response.
pub const DEFAULT_DEADLINE_SECONDS: u64 = 30;
/// Most threads `HANDLER_WORKER_THREADS` may ask for.
pub const MAX_WORKER_THREADS: usize = 64;

/// Everything the handler needs to know about its environment.
#[derive(Clone)]
pub struct Settings {
    /// Loopback port to listen on (`FUNCTIONS_CUSTOMHANDLER_PORT`).
    pub port: u16,
    /// ACS resource endpoint, `https://<name>.communication.azure.com`
    /// (`COMMUNICATION_SERVICES_ENDPOINT`, else the connection string's endpoint).
    pub endpoint: Url,
    /// How the handler authenticates to ACS.
    pub auth: AuthSettings,
    /// Bound on one ACS operation, retries included (`ACS_REQUEST_DEADLINE_SECONDS`).
    pub deadline: std::time::Duration,
    /// Threads serving requests (`HANDLER_WORKER_THREADS`, 1 to 64; default 1). One thread
    /// runs everything on a single-threaded runtime: no cross-thread wake-ups, the least CPU
    /// and latency per request, and still far more requests per second than ACS accepts from
    /// one resource. More threads use a work-stealing runtime over that many cores.
    pub worker_threads: usize,
    pub token: TokenSettings,
    pub sms: SmsSettings,
    /// App Service Authentication is in front of the app (`WEBSITE_AUTH_ENABLED=true`, or
    /// `TOKEN_IDENTITY_MAPPING=easyauth`, which is only allowed behind it). Only then do the
    /// `X-MS-CLIENT-PRINCIPAL*` headers say who the caller is: without it anyone can send them.
    pub trust_client_principal: bool,
    /// Settings that work but are likely a mistake, for start-up to log as warnings.
    pub warnings: Vec<String>,
}

/// What `POST /api/token` may hand out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSettings {
    /// `TOKEN_ALLOWED_SCOPES`, comma-separated; default `voip`.
    pub allowed_scopes: Vec<Scope>,
    /// `TOKEN_IDENTITY_MAPPING`: `none` (default) or `easyauth`.
    pub mapping: IdentityMapping,
}

/// Who the ACS user of a token request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityMapping {
    /// Every call creates a new ACS identity (anonymous guests).
    None,
    /// The App Service Authentication principal; the same caller always gets the same ACS user.
    EasyAuth,
}

/// Guards on `POST /api/sms`.
#[derive(Clone, PartialEq, Eq)]
pub struct SmsSettings {
    /// Default sender (`SMS_FROM`); SMS requests fail with a clear error while it is unset.
    pub from: Option<Sender>,
    /// Senders a request may pick with `from` (`SMS_ALLOWED_SENDERS`; default: `SMS_FROM` only).
    pub allowed_senders: Vec<Sender>,
    /// Destination country calling codes (`SMS_ALLOWED_COUNTRY_CODES`, e.g. `1,44`); `None`
    /// allows every destination.
    pub allowed_country_codes: Option<Vec<String>>,
    /// `SMS_MAX_RECIPIENTS`, 1 to 100; default 100.
    pub max_recipients: usize,
    /// `SMS_LIMIT_PER_NUMBER_PER_HOUR`; 0 is off.
    pub per_number_per_hour: u32,
    /// `SMS_LIMIT_PER_CALLER_PER_MINUTE`; 0 is off.
    pub per_caller_per_minute: u32,
}

impl fmt::Debug for SmsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let masked: Vec<String> = self
            .allowed_senders
            .iter()
            .map(|s| crate::redact::phone(s.as_str()))
            .collect();
        f.debug_struct("SmsSettings")
            .field(
                "from",
                &self.from.as_ref().map(|s| crate::redact::phone(s.as_str())),
            )
            .field("allowed_senders", &masked)
            .field("allowed_country_codes", &self.allowed_country_codes)
            .field("max_recipients", &self.max_recipients)
            .field("per_number_per_hour", &self.per_number_per_hour)
            .field("per_caller_per_minute", &self.per_caller_per_minute)
            .finish()
    }
}

/// The credential source, chosen once in the documented order.
#[derive(Clone, PartialEq, Eq)]
pub enum AuthSettings {
    /// `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are set: the function app's managed identity,
    /// user-assigned when `AZURE_CLIENT_ID` names one.
    ManagedIdentity { client_id: Option<String> },
    /// No managed identity, but `COMMUNICATION_SERVICES_CONNECTION_STRING` is set: requests are
    /// signed with its access key (HMAC-SHA256).
    AccessKey(AccessKey),
    /// Neither managed identity nor an access key: the signed-in Azure CLI or azd user.
    DeveloperTools,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("port", &self.port)
            .field("endpoint", &self.endpoint.as_str())
            .field("auth", &self.auth)
            .field("deadline", &self.deadline)
            .field("worker_threads", &self.worker_threads)
            .field("token", &self.token)
            .field("sms", &self.sms)
            .field("trust_client_principal", &self.trust_client_principal)
            .field("warnings", &self.warnings)
            .finish()
    }
}

impl fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

impl AuthSettings {
    /// A label safe to log: it says which credential, never what it holds.
    pub fn describe(&self) -> &'static str {
        match self {
            AuthSettings::ManagedIdentity { client_id: None } => "system-assigned managed identity",
            AuthSettings::ManagedIdentity { client_id: Some(_) } => {
                "user-assigned managed identity (AZURE_CLIENT_ID)"
            }
            AuthSettings::AccessKey(_) => "access key (COMMUNICATION_SERVICES_CONNECTION_STRING)",
            AuthSettings::DeveloperTools => "developer tools (Azure CLI, then Azure Developer CLI)",
        }
    }
}

/// A setting that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid setting {}: {}", self.variable, self.problem)
    }
}

impl std::error::Error for ConfigError {}

fn invalid(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        problem: problem.into(),
    }
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, so tests need not touch the process environment.
    /// Empty values count as unset, as they do in the portal.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());

        let port = match var(PORT_VAR) {
            None => DEFAULT_PORT,
            Some(raw) => parse_port(&raw)?,
        };

        let connection = var(CONNECTION_STRING_VAR)
            .map(|raw| parse_connection_string(&raw))
            .transpose()?;
        let endpoint = match (var(ENDPOINT_VAR), &connection) {
            (Some(raw), connection) => {
                let endpoint = parse_endpoint(&raw)?;
                if let Some(connection) = connection
                    && connection.endpoint.origin() != endpoint.origin()
                {
                    return Err(invalid(
                        ENDPOINT_VAR,
                        format!(
                            "names {} but {CONNECTION_STRING_VAR} names {}; \
                             they must be the same resource (or unset one of them)",
                            origin(&endpoint),
                            origin(&connection.endpoint)
                        ),
                    ));
                }
                endpoint
            }
            (None, Some(connection)) => connection.endpoint.clone(),
            (None, None) => {
                return Err(invalid(
                    ENDPOINT_VAR,
                    "not set; expected https://<resource>.communication.azure.com",
                ));
            }
        };

        let mut warnings = Vec::new();

        // One credential per process, in the documented order.
        let (identity_endpoint, identity_header) =
            (var(IDENTITY_ENDPOINT_VAR), var(IDENTITY_HEADER_VAR));
        if identity_endpoint.is_some() != identity_header.is_some() {
            warnings.push(format!(
                "only one of {IDENTITY_ENDPOINT_VAR} and {IDENTITY_HEADER_VAR} is set: \
                 the managed identity needs both, so it is not used"
            ));
        }
        let auth = if identity_endpoint.is_some() && identity_header.is_some() {
            AuthSettings::ManagedIdentity {
                client_id: var(CLIENT_ID_VAR),
            }
        } else if let Some(connection) = connection {
            AuthSettings::AccessKey(connection.key)
        } else {
            AuthSettings::DeveloperTools
        };

        let deadline = match var(DEADLINE_VAR) {
            None => DEFAULT_DEADLINE_SECONDS,
            Some(raw) => match raw.trim().parse::<u64>() {
                Ok(seconds @ 1..=220) => seconds,
                _ => {
                    return Err(invalid(
                        DEADLINE_VAR,
                        format!("'{raw}' is not a number of seconds from 1 to 220"),
                    ));
                }
            },
        };

        let worker_threads = match var(WORKER_THREADS_VAR) {
            None => 1,
            Some(raw) => match raw.trim().parse::<usize>() {
                Ok(n @ 1..=MAX_WORKER_THREADS) => n,
                _ => {
                    return Err(invalid(
                        WORKER_THREADS_VAR,
                        format!("'{raw}' is not a number from 1 to {MAX_WORKER_THREADS}"),
                    ));
                }
            },
        };

        let allowed_scopes = match var(ALLOWED_SCOPES_VAR) {
            None => vec![Scope::Voip],
            Some(raw) => list(&raw)
                .map(|name| {
                    name.parse::<Scope>().map_err(|_| {
                        invalid(ALLOWED_SCOPES_VAR, format!("unknown scope '{name}'; known: chat, voip, chat.join, chat.join.limited, voip.join"))
                    })
                })
                .collect::<Result<_, _>>()?,
        };

        let mapping = match var(IDENTITY_MAPPING_VAR)
            .map(|m| m.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("none") => IdentityMapping::None,
            Some("easyauth") => IdentityMapping::EasyAuth,
            Some(other) => {
                return Err(invalid(
                    IDENTITY_MAPPING_VAR,
                    format!("'{other}' is neither none nor easyauth"),
                ));
            }
        };

        // A sender ACS would refuse fails here, not as a 400 on every send that blames the caller.
        let from = var(SMS_FROM_VAR)
            .map(|raw| Sender::parse(&raw).map_err(|e| invalid(SMS_FROM_VAR, e)))
            .transpose()?;
        let allowed_senders = match var(ALLOWED_SENDERS_VAR) {
            Some(raw) => list(&raw)
                .map(|item| {
                    Sender::parse(item).map_err(|e| {
                        invalid(
                            ALLOWED_SENDERS_VAR,
                            format!("'{}': {e}", crate::redact::phone(item)),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
            None => from.iter().cloned().collect(),
        };
        let allowed_country_codes = match var(ALLOWED_COUNTRY_CODES_VAR) {
            None => {
                warnings.push(format!(
                    "{ALLOWED_COUNTRY_CODES_VAR} is not set: SMS may go to every country"
                ));
                None
            }
            Some(raw) => {
                let codes: Vec<String> = list(&raw)
                    .map(|c| c.trim_start_matches('+').to_owned())
                    .collect();
                if codes.is_empty() {
                    return Err(invalid(
                        ALLOWED_COUNTRY_CODES_VAR,
                        "names no country calling code (e.g. 1,44); unset it to allow every country",
                    ));
                }
                if let Some(bad) = codes.iter().find(|c| !calling_codes::is_assigned(c)) {
                    return Err(invalid(
                        ALLOWED_COUNTRY_CODES_VAR,
                        format!(
                            "'{bad}' is not an assigned country calling code (e.g. 1, 44, 353)"
                        ),
                    ));
                }
                Some(codes)
            }
        };
        let max_recipients = match var(MAX_RECIPIENTS_VAR) {
            None => MAX_RECIPIENTS,
            Some(raw) => match raw.trim().parse::<usize>() {
                Ok(n @ 1..=MAX_RECIPIENTS) => n,
                _ => {
                    return Err(invalid(
                        MAX_RECIPIENTS_VAR,
                        format!("'{raw}' is not a number from 1 to {MAX_RECIPIENTS}"),
                    ));
                }
            },
        };

        let count = |name: &'static str, default: u32| match var(name) {
            None => Ok(default),
            Some(raw) => raw.trim().parse::<u32>().map_err(|_| {
                invalid(
                    name,
                    format!("'{raw}' is not a whole number (0 turns the limit off)"),
                )
            }),
        };
        let per_number_per_hour = count(PER_NUMBER_LIMIT_VAR, DEFAULT_PER_NUMBER_LIMIT)?;
        let per_caller_per_minute = count(PER_CALLER_LIMIT_VAR, DEFAULT_PER_CALLER_LIMIT)?;

        Ok(Settings {
            port,
            endpoint,
            auth,
            deadline: std::time::Duration::from_secs(deadline),
            worker_threads,
            token: TokenSettings {
                allowed_scopes,
                mapping,
            },
            sms: SmsSettings {
                from,
                allowed_senders,
                allowed_country_codes,
                max_recipients,
                per_number_per_hour,
                per_caller_per_minute,
            },
            warnings,
            trust_client_principal: mapping == IdentityMapping::EasyAuth
                || var(AUTH_ENABLED_VAR).is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
        })
    }
}

/// Items of a comma-separated setting, trimmed, empty ones skipped.
fn list(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

fn parse_port(raw: &str) -> Result<u16, ConfigError> {
    match raw.trim().parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(invalid(
            PORT_VAR,
            format!("'{}' is not a port number (1-65535)", raw.trim()),
        )),
    }
}

/// Parses the ACS endpoint into an origin with an empty path, so that joining an operation path
/// never yields `//`.
pub fn parse_endpoint(raw: &str) -> Result<Url, ConfigError> {
    let raw = raw.trim();
    let lower = raw.to_ascii_lowercase();
    if lower.contains("accesskey=") || lower.starts_with("endpoint=") {
        // A pasted connection string: say so without repeating it, since it holds the key.
        return Err(invalid(
            ENDPOINT_VAR,
            "looks like a connection string; set only the endpoint URL \
             (https://<resource>.communication.azure.com)",
        ));
    }
    parse_origin(ENDPOINT_VAR, raw)
}

/// Checks that `raw` is an https origin without path, query or credentials.
fn parse_origin(variable: &'static str, raw: &str) -> Result<Url, ConfigError> {
    // Messages show the value without user info, query or fragment: those may carry secrets.
    let shown = crate::redact::url(raw);
    let url =
        Url::parse(raw).map_err(|e| invalid(variable, format!("'{shown}' is not a URL ({e})")))?;
    if url.scheme() != "https" {
        return Err(invalid(variable, format!("'{shown}' must use https")));
    }
    if url.host_str().is_none() {
        return Err(invalid(variable, format!("'{shown}' has no host")));
    }
    if !url.path().trim_end_matches('/').is_empty()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(invalid(
            variable,
            format!("'{shown}' must be the resource origin only, without a path or query"),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(variable, "must not contain credentials"));
    }
    Ok(url)
}

/// `scheme://host[:port]`, for messages.
fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// What `COMMUNICATION_SERVICES_CONNECTION_STRING` holds.
#[derive(Debug)]
struct ConnectionString {
    endpoint: Url,
    key: AccessKey,
}

/// Parses `endpoint=https://<resource>.communication.azure.com/;accesskey=<base64>`. Names are
/// case-insensitive, in any order. No error repeats any part of the value: a malformed one may
/// hold the key anywhere.
fn parse_connection_string(raw: &str) -> Result<ConnectionString, ConfigError> {
    const SHAPE: &str =
        "expected endpoint=https://<resource>.communication.azure.com/;accesskey=<key>";
    let mut endpoint = None;
    let mut key = None;
    for part in raw
        .trim()
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let Some((name, value)) = part.split_once('=') else {
            return Err(invalid(
                CONNECTION_STRING_VAR,
                format!("a part is not name=value; {SHAPE}"),
            ));
        };
        let slot = match name.trim().to_ascii_lowercase().as_str() {
            "endpoint" => &mut endpoint,
            "accesskey" => &mut key,
            _ => {
                return Err(invalid(
                    CONNECTION_STRING_VAR,
                    format!("unexpected part; {SHAPE}"),
                ));
            }
        };
        if slot.replace(value.trim()).is_some() {
            return Err(invalid(
                CONNECTION_STRING_VAR,
                format!("a part is repeated; {SHAPE}"),
            ));
        }
    }
    let (Some(endpoint), Some(key)) = (endpoint, key) else {
        return Err(invalid(
            CONNECTION_STRING_VAR,
            format!("endpoint or accesskey is missing; {SHAPE}"),
        ));
    };
    let key = AccessKey::from_base64(key)
        .ok_or_else(|| invalid(CONNECTION_STRING_VAR, "accesskey is not a base64 key"))?;
    // Quoting the endpoint part could still leak the key when a separator is wrong
    // (`endpoint=https://x,accesskey=...`), so its errors do not quote it either.
    let endpoint = match parse_origin(CONNECTION_STRING_VAR, endpoint) {
        Ok(url) if !endpoint.to_ascii_lowercase().contains("accesskey") => url,
        _ => {
            return Err(invalid(
                CONNECTION_STRING_VAR,
                format!("the endpoint part is not an https origin; {SHAPE}"),
            ));
        }
    };
    Ok(ConnectionString { endpoint, key })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    const ENDPOINT: (&str, &str) = (ENDPOINT_VAR, "https://contoso.communication.azure.com");

    #[test]
    fn port_defaults_when_unset_and_rejects_garbage() {
        assert_eq!(settings(&[ENDPOINT]).unwrap().port, DEFAULT_PORT);
        assert_eq!(
            settings(&[ENDPOINT, (PORT_VAR, "7071")]).unwrap().port,
            7071
        );
        for bad in ["abc", "0", "65536", "-1", "80 80"] {
            let err = settings(&[ENDPOINT, (PORT_VAR, bad)]).unwrap_err();
            assert_eq!(err.variable, PORT_VAR, "{bad}");
        }
    }

    #[test]
    fn worker_threads_default_to_one_and_stay_within_bounds() {
        assert_eq!(settings(&[ENDPOINT]).unwrap().worker_threads, 1);
        let four = settings(&[ENDPOINT, (WORKER_THREADS_VAR, " 4 ")]).unwrap();
        assert_eq!(four.worker_threads, 4);
        for bad in ["0", "65", "two", "-1"] {
            let err = settings(&[ENDPOINT, (WORKER_THREADS_VAR, bad)]).unwrap_err();
            assert_eq!(err.variable, WORKER_THREADS_VAR, "{bad}");
        }
    }

    #[test]
    fn endpoint_trailing_slash_is_tolerated() {
        for raw in [
            "https://contoso.communication.azure.com/",
            "https://contoso.communication.azure.com",
        ] {
            let url = parse_endpoint(raw).unwrap();
            let joined = url.join("identities").unwrap();
            assert_eq!(
                joined.as_str(),
                "https://contoso.communication.azure.com/identities"
            );
        }
    }

    #[test]
    fn endpoint_rejects_connection_string_without_echoing_the_key() {
        let err = parse_endpoint("endpoint=https://x.communication.azure.com/;accesskey=c2VjcmV0")
            .unwrap_err();
        assert!(err.to_string().contains("connection string"));
        assert!(!err.to_string().contains("c2VjcmV0"));
    }

    #[test]
    fn endpoint_errors_never_show_a_query() {
        for raw in [
            "https://x.communication.azure.com/?sig=SECRETSIG",
            "http://x.communication.azure.com/?sig=SECRETSIG",
            "https://x.communication.azure.com/#sig=SECRETSIG",
            "http://user:SECRETSIG@x.communication.azure.com",
            "https://user:SECRETSIG@x.communication.azure.com/path",
        ] {
            let error = parse_endpoint(raw).unwrap_err().to_string();
            assert!(!error.contains("SECRETSIG"), "{error}");
            assert!(error.contains("x.communication.azure.com"), "{error}");
        }
    }

    #[test]
    fn endpoint_must_be_an_https_origin() {
        for bad in [
            "http://x.communication.azure.com",
            "x.communication.azure.com",
            "https://x/path",
        ] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
        assert!(settings(&[]).is_err());
    }

    #[test]
    fn guard_settings_have_defaults_and_checks() {
        let s = settings(&[ENDPOINT, (SMS_FROM_VAR, "+18005550100")]).unwrap();
        assert_eq!(s.token.allowed_scopes, vec![Scope::Voip]);
        assert_eq!(
            s.sms.allowed_senders,
            vec![Sender::parse("+18005550100").unwrap()]
        );
        assert!(!s.trust_client_principal);
        assert_eq!(s.sms.allowed_country_codes, None);
        assert_eq!(s.sms.max_recipients, 100);

        let s = settings(&[
            ENDPOINT,
            (ALLOWED_SCOPES_VAR, "chat, voip"),
            (ALLOWED_COUNTRY_CODES_VAR, "1,+44"),
        ])
        .unwrap();
        assert_eq!(s.token.allowed_scopes, vec![Scope::Chat, Scope::Voip]);
        assert_eq!(
            s.sms.allowed_country_codes,
            Some(vec!["1".to_owned(), "44".to_owned()])
        );

        for (var, bad) in [
            (ALLOWED_SCOPES_VAR, "voip,admin"),
            (ALLOWED_COUNTRY_CODES_VAR, "1,x"),
            (ALLOWED_COUNTRY_CODES_VAR, "4"),
            (ALLOWED_COUNTRY_CODES_VAR, ", ,"),
            (ALLOWED_COUNTRY_CODES_VAR, "1242"),
            (SMS_FROM_VAR, "+1 800 555 010"),
            (SMS_FROM_VAR, "Contoso Ltd OTP"),
            (ALLOWED_SENDERS_VAR, "+18005550100,18005550100"),
            (MAX_RECIPIENTS_VAR, "101"),
            (MAX_RECIPIENTS_VAR, "0"),
            (DEADLINE_VAR, "0"),
            (IDENTITY_MAPPING_VAR, "aad"),
        ] {
            assert_eq!(settings(&[ENDPOINT, (var, bad)]).unwrap_err().variable, var);
        }
    }

    #[test]
    fn senders_are_kept_in_canonical_form() {
        let s = settings(&[
            ENDPOINT,
            (SMS_FROM_VAR, "+1 (800) 555-0100"),
            (ALLOWED_SENDERS_VAR, "+1 800 555 0100, 12345, Contoso"),
        ])
        .unwrap();
        assert_eq!(s.sms.from.unwrap().as_str(), "+18005550100");
        let senders: Vec<&str> = s.sms.allowed_senders.iter().map(Sender::as_str).collect();
        assert_eq!(senders, ["+18005550100", "12345", "Contoso"]);
    }

    #[test]
    fn principal_headers_are_trusted_only_behind_app_service_authentication() {
        let trusted = |vars: &[(&str, &str)]| {
            let mut all = vec![ENDPOINT];
            all.extend_from_slice(vars);
            settings(&all).unwrap().trust_client_principal
        };
        assert!(!trusted(&[]));
        assert!(!trusted(&[(AUTH_ENABLED_VAR, "false")]));
        assert!(trusted(&[(AUTH_ENABLED_VAR, "True")]));
        assert!(trusted(&[(IDENTITY_MAPPING_VAR, "easyauth")]));
    }

    #[test]
    fn debug_masks_phone_numbers() {
        let s = settings(&[ENDPOINT, (SMS_FROM_VAR, "+18005550100")]).unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains("+18005550100"), "{debug}");
        assert!(debug.contains("+1800…0100"), "{debug}");
    }

    #[test]
    fn managed_identity_needs_both_variables() {
        let mi = settings(&[
            ENDPOINT,
            (IDENTITY_ENDPOINT_VAR, "http://x"),
            (IDENTITY_HEADER_VAR, "h"),
        ]);
        assert_eq!(
            mi.unwrap().auth,
            AuthSettings::ManagedIdentity { client_id: None }
        );
        let half = settings(&[ENDPOINT, (IDENTITY_ENDPOINT_VAR, "http://x")]).unwrap();
        assert_eq!(half.auth, AuthSettings::DeveloperTools);
        assert!(
            half.warnings
                .iter()
                .any(|w| w.contains(IDENTITY_HEADER_VAR)),
            "{:?}",
            half.warnings
        );
    }

    const KEY: &str = "c2VjcmV0LWFjY2Vzcy1rZXk="; // "secret-access-key"

    fn connection(endpoint: &str) -> (&'static str, String) {
        (
            CONNECTION_STRING_VAR,
            format!("endpoint={endpoint};accesskey={KEY}"),
        )
    }

    fn with_connection(
        vars: &[(&str, &str)],
        connection: &(&str, String),
    ) -> Result<Settings, ConfigError> {
        let mut all: Vec<(&str, &str)> = vars.to_vec();
        all.push((connection.0, connection.1.as_str()));
        settings(&all)
    }

    #[test]
    fn connection_string_alone_gives_endpoint_and_access_key() {
        let s =
            with_connection(&[], &connection("https://Contoso.communication.azure.com/")).unwrap();
        assert_eq!(
            s.endpoint.as_str(),
            "https://contoso.communication.azure.com/"
        );
        assert_eq!(
            s.endpoint.join("sms").unwrap().as_str(),
            "https://contoso.communication.azure.com/sms"
        );
        assert_eq!(
            s.auth,
            AuthSettings::AccessKey(AccessKey::from_base64(KEY).unwrap())
        );
    }

    #[test]
    fn connection_string_names_are_case_insensitive_in_any_order() {
        let raw = format!(" AccessKey={KEY} ; ENDPOINT=https://contoso.communication.azure.com ;");
        let s = settings(&[(CONNECTION_STRING_VAR, &raw)]).unwrap();
        assert_eq!(
            s.endpoint.host_str(),
            Some("contoso.communication.azure.com")
        );
        assert!(matches!(s.auth, AuthSettings::AccessKey(_)));
    }

    #[test]
    fn credential_order_is_identity_then_key_then_developer_tools() {
        let conn = connection("https://contoso.communication.azure.com/");
        let identity = [
            (IDENTITY_ENDPOINT_VAR, "http://x"),
            (IDENTITY_HEADER_VAR, "h"),
        ];
        assert_eq!(
            with_connection(&identity, &conn).unwrap().auth,
            AuthSettings::ManagedIdentity { client_id: None }
        );
        let half = [(IDENTITY_ENDPOINT_VAR, "http://x")];
        assert!(matches!(
            with_connection(&half, &conn).unwrap().auth,
            AuthSettings::AccessKey(_)
        ));
        assert_eq!(
            settings(&[ENDPOINT]).unwrap().auth,
            AuthSettings::DeveloperTools
        );
    }

    #[test]
    fn endpoint_and_connection_string_must_name_the_same_resource() {
        for same in [
            "https://contoso.communication.azure.com/",
            "https://CONTOSO.communication.azure.com:443",
        ] {
            let s = with_connection(&[ENDPOINT], &connection(same)).unwrap();
            assert_eq!(
                s.endpoint.host_str(),
                Some("contoso.communication.azure.com")
            );
        }
        for other in [
            "https://fabrikam.communication.azure.com/",
            "https://contoso.communication.azure.com:8443/",
        ] {
            let err = with_connection(&[ENDPOINT], &connection(other)).unwrap_err();
            let message = err.to_string();
            assert_eq!(err.variable, ENDPOINT_VAR);
            assert!(message.contains(CONNECTION_STRING_VAR), "{message}");
            assert!(!message.contains(KEY), "{message}");
            assert!(!message.contains('\n'), "one line: {message}");
        }
    }

    #[test]
    fn bad_connection_strings_are_refused_without_echoing_them() {
        for bad in [
            format!("endpoint=https://x.communication.azure.com/;accesskey={KEY}x"),
            format!("endpoint=https://x.communication.azure.com/,accesskey={KEY}"),
            format!("endpoint=http://x.communication.azure.com/;accesskey={KEY}"),
            format!("https://x.communication.azure.com/;{KEY}"),
            format!("endpoint=https://x.communication.azure.com/;key={KEY}"),
            format!("accesskey={KEY}"),
            format!("endpoint=https://x/;accesskey={KEY};accesskey={KEY}"),
            "endpoint=https://x.communication.azure.com/;accesskey=".to_owned(),
        ] {
            let err = settings(&[(CONNECTION_STRING_VAR, &bad)]).unwrap_err();
            let message = err.to_string();
            assert_eq!(err.variable, CONNECTION_STRING_VAR, "{bad}");
            assert!(!message.contains(&KEY[..8]), "{message}");
            assert!(!message.contains("x.communication"), "{message}");
        }
    }

    #[test]
    fn debug_of_settings_never_shows_the_key() {
        let s =
            with_connection(&[], &connection("https://contoso.communication.azure.com")).unwrap();
        let debug = format!("{s:?} {:?}", s.auth);
        assert!(!debug.contains(&KEY[..8]), "{debug}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(debug.contains("access key"), "{debug}");
    }
}
