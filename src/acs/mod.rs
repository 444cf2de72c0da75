//! A client for the Azure Communication Services data-plane REST APIs we call.
//!
//! ACS has no Rust SDK, so this module plays its part: one [`AcsClient`] built at start-up on an
//! `azure_core` pipeline (retries, user agent, `x-ms-client-request-id`, bearer tokens from an
//! `azure_identity` credential), and one method per REST operation in [`identity`] and [`sms`].
//! Ids and phone numbers coming back from ACS are opaque strings here: validating what callers
//! send is the job of the HTTP edge, not of this client.

mod error;
pub mod hmac;
pub mod identity;
pub mod sms;
mod throttle;

pub use error::AcsError;

use azure_core::{
    credentials::TokenCredential,
    error::ErrorKind,
    http::{
        ClientOptions, Context, Method, Pipeline, PipelineSendOptions, RawResponse, Request, Url,
        headers::{HeaderName, RETRY_AFTER},
        policies::{Policy, auth::BearerTokenAuthorizationPolicy},
    },
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use throttle::{CallDeadline, ThrottleCutoff};

/// Characters a path segment keeps as they are: letters, digits and `-_~`.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'~');

/// The token scope for ACS. The double slash is deliberate: it is what every official SDK sends,
/// and the managed-identity endpoint then sees the resource `https://communication.azure.com/`.
pub const ACS_SCOPE: &str = "https://communication.azure.com//.default";

const CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("x-ms-client-request-id");
const RETURN_CLIENT_REQUEST_ID: HeaderName =
    HeaderName::from_static("x-ms-return-client-request-id");
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Path segments (percent-encoded) and an optional action such as `:revokeAccessTokens`.
type Target<'a> = (&'a [&'a str], Option<&'static str>);

/// Per-call facts that travel from the incoming request to ACS.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    /// Sent as `x-ms-client-request-id`; ACS echoes it, so support cases can be correlated.
    pub client_request_id: Option<String>,
    /// W3C trace context continued from the caller.
    pub traceparent: Option<String>,
}

/// Tunables of the client; the defaults suit a function app.
#[derive(Debug, Clone)]
pub struct AcsClientOptions {
    /// `azure_core` options: retry policy, transport.
    pub client_options: ClientOptions,
    /// Overall bound on one operation, retries included.
    pub deadline: Duration,
}

impl Default for AcsClientOptions {
    fn default() -> Self {
        Self {
            client_options: ClientOptions::default(),
            deadline: Duration::from_secs(60),
        }
    }
}

/// A client for one ACS resource. Cheap to share behind an `Arc`; build it once.
#[derive(Debug)]
pub struct AcsClient {
    endpoint: Url,
    pipeline: Pipeline,
    deadline: Duration,
}

impl AcsClient {
    /// Builds a client that authenticates with bearer tokens from `credential`.
    ///
    /// No I/O happens here: the first token is fetched by the first call.
    pub fn new(
        endpoint: Url,
        credential: Arc<dyn TokenCredential>,
        options: AcsClientOptions,
    ) -> Self {
        let auth: Arc<dyn Policy> =
            Arc::new(BearerTokenAuthorizationPolicy::new(credential, [ACS_SCOPE]));
        Self::with_auth_policy(endpoint, auth, options)
    }

    /// Builds a client whose requests are authorized by `auth` (bearer token or access key).
    pub fn with_auth_policy(
        endpoint: Url,
        auth: Arc<dyn Policy>,
        options: AcsClientOptions,
    ) -> Self {
        let pipeline = Pipeline::new(
            Some(env!("CARGO_PKG_NAME")),
            Some(env!("CARGO_PKG_VERSION")),
            options.client_options,
            Vec::new(),
            vec![Arc::new(ThrottleCutoff), auth],
            None,
        );
        Self {
            endpoint,
            pipeline,
            deadline: options.deadline,
        }
    }

    /// The resource endpoint this client calls.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// Builds `<endpoint>/<segments...>?api-version=<version>`. Segments are percent-encoded
    /// except for unreserved characters (an identity id's `:` becomes `%3A`, as the SDKs send
    /// it), so no value can add a path segment or a query.
    /// An `action` (`:issueAccessToken`) is appended as written.
    fn url(&self, segments: &[&str], action: Option<&'static str>, api_version: &str) -> Url {
        let mut path = String::new();
        for segment in segments {
            path.push('/');
            path.extend(utf8_percent_encode(segment, SEGMENT));
        }
        if let Some(action) = action {
            path.push('/');
            path.push_str(action);
        }
        let mut url = self.endpoint.clone();
        url.set_path(&path);
        url.query_pairs_mut()
            .append_pair("api-version", api_version);
        url
    }

    fn request(
        &self,
        method: Method,
        target: Target<'_>,
        api_version: &str,
        cx: &CallContext,
    ) -> Request {
        let mut request = Request::new(self.url(target.0, target.1, api_version), method);
        request.insert_header("accept", "application/json");
        if let Some(id) = &cx.client_request_id {
            request.insert_header(CLIENT_REQUEST_ID, id.clone());
        }
        request.insert_header(RETURN_CLIENT_REQUEST_ID, "true");
        if let Some(traceparent) = &cx.traceparent {
            request.insert_header(TRACEPARENT, traceparent.clone());
        }
        request
    }

    /// Sends `request` through the pipeline within the deadline and returns the response when
    /// its status is a success; anything else becomes an [`AcsError`].
    async fn send(&self, mut request: Request) -> Result<RawResponse, AcsError> {
        let options = PipelineSendOptions {
            skip_checks: true,
            ..Default::default()
        };
        let context = Context::new().with_value(CallDeadline(Instant::now() + self.deadline));
        let sent = self.pipeline.send(&context, &mut request, Some(options));
        let response = match tokio::time::timeout(self.deadline, sent).await {
            Err(_) => return Err(AcsError::Timeout),
            Ok(result) => result.map_err(classify)?,
        };

        let status = u16::from(response.status());
        if (200..300).contains(&status) {
            return Ok(response);
        }
        // Passed on to our caller only when it says something: seconds or an HTTP date.
        let retry_after = response
            .headers()
            .get_optional_string(&RETRY_AFTER)
            .filter(|value| throttle::wait_of(value, std::time::SystemTime::now()).is_some());
        Err(AcsError::from_response(
            status,
            response.body(),
            retry_after,
        ))
    }
}

/// Sorts a pipeline error into what went wrong from the caller's point of view.
fn classify(error: azure_core::Error) -> AcsError {
    // A policy of ours already said what went wrong (see `throttle`); the retry policy wraps it.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(inner) = source {
        if let Some(acs) = inner.downcast_ref::<AcsError>() {
            return acs.clone();
        }
        source = inner.source();
    }
    let message = chain(&error);
    match error.kind() {
        ErrorKind::Credential => AcsError::Credential(message),
        ErrorKind::Io | ErrorKind::Connection => AcsError::Transport(message),
        ErrorKind::DataConversion => AcsError::InvalidResponse(message),
        // The bearer policy passes a failed token request on as it got it; an HTTP error here
        // can only be the identity endpoint's.
        ErrorKind::HttpResponse { .. } => AcsError::Credential(message),
        _ => AcsError::Transport(message),
    }
}

/// The error and its causes on one line: the outer message alone is often just "will not be
/// retried". These are transport and credential errors; none carries a token or a key.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message.replace('\n', " ")
}

/// Deserializes a success body, naming the operation when it cannot.
fn parse_body<T: serde::de::DeserializeOwned>(
    response: &RawResponse,
    operation: &str,
) -> Result<T, AcsError> {
    serde_json::from_slice(response.body())
        .map_err(|e| AcsError::InvalidResponse(format!("{operation}: {e}")))
}

fn json_body<T: serde::Serialize>(request: &mut Request, body: &T) {
    // Serializing our own request types cannot fail: they hold only strings, numbers and bools.
    let bytes = serde_json::to_vec(body).expect("request bodies serialize");
    request.insert_header("content-type", "application/json");
    request.set_body(bytes);
}
