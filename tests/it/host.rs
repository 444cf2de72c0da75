//! A test double of the Azure Functions host, faithful to `functions-host.md`: it reads
//! `host.json` and every `function-*/function.json`, starts the handler as the host does, polls
//! `GET /` for readiness, checks function keys, matches routes, then forwards the request
//! (forwarding mode) or posts a JSON invocation (payload mode) and converts the answer as the
//! host does. Everything listens on loopback only.

use crate::support::{Handler, free_port};
use axum::{
    Router,
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

pub const HOST_VERSION: &str = "4.1037.0";
pub const FUNCTION_KEY: &str = "test-function-key";
pub const HOST_KEY: &str = "test-host-key";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Forwarding,
    Payload,
}

/// One function as declared by its `function.json`.
#[derive(Debug, Clone)]
pub struct Function {
    pub name: String,
    pub route: String,
    pub methods: Option<Vec<String>>,
    pub auth_level: String,
    /// Exactly one `httpTrigger` in and one `http` out: the only shape that may be forwarded.
    pub http_in_out: bool,
}

/// Reads the app the way the host does.
pub struct App {
    pub root: PathBuf,
    pub host: Value,
    pub functions: Vec<Function>,
}

impl App {
    pub fn load(root: &Path) -> App {
        let host: Value =
            serde_json::from_str(&std::fs::read_to_string(root.join("host.json")).unwrap())
                .unwrap();
        let mut functions = Vec::new();
        for entry in std::fs::read_dir(root).unwrap() {
            let path = entry.unwrap().path();
            let manifest = path.join("function.json");
            if !manifest.is_file() {
                continue;
            }
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let doc: Value =
                serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
            let bindings = doc["bindings"].as_array().cloned().unwrap_or_default();
            let is = |b: &Value, ty: &str, dir: &str| {
                b["type"]
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case(ty))
                    && b["direction"]
                        .as_str()
                        .is_some_and(|d| d.eq_ignore_ascii_case(dir))
            };
            let inputs: Vec<&Value> = bindings
                .iter()
                .filter(|b| {
                    b["direction"]
                        .as_str()
                        .is_some_and(|d| d.eq_ignore_ascii_case("in"))
                })
                .collect();
            let outputs: Vec<&Value> = bindings
                .iter()
                .filter(|b| {
                    b["direction"]
                        .as_str()
                        .is_some_and(|d| d.eq_ignore_ascii_case("out"))
                })
                .collect();
            let trigger = bindings
                .iter()
                .find(|b| is(b, "httpTrigger", "in"))
                .cloned()
                .unwrap_or(Value::Null);
            let http_in_out = inputs.len() == 1
                && is(inputs[0], "httpTrigger", "in")
                && outputs.len() == 1
                && is(outputs[0], "http", "out")
                && outputs[0]["name"]
                    .as_str()
                    .is_some_and(|n| n == "res" || n == "$return");
            functions.push(Function {
                route: trigger["route"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| name.clone()),
                methods: trigger["methods"].as_array().map(|m| {
                    m.iter()
                        .filter_map(|v| v.as_str().map(str::to_ascii_uppercase))
                        .collect()
                }),
                auth_level: trigger["authLevel"]
                    .as_str()
                    .unwrap_or("function")
                    .to_ascii_lowercase(),
                name,
                http_in_out,
            });
        }
        assert!(
            !functions.is_empty(),
            "an app with no functions never starts the handler"
        );
        App {
            root: root.to_owned(),
            host,
            functions,
        }
    }

    fn custom_handler(&self) -> &Value {
        &self.host["customHandler"]
    }

    pub fn forwarding_enabled(&self) -> bool {
        self.custom_handler()["enableForwardingHttpRequest"]
            .as_bool()
            .unwrap_or(false)
    }

    /// `defaultExecutablePath`, made absolute against the app root when the file is there.
    pub fn executable(&self) -> PathBuf {
        let path = self.custom_handler()["description"]["defaultExecutablePath"]
            .as_str()
            .expect("defaultExecutablePath");
        let candidate = self.root.join(path);
        if candidate.is_file() {
            candidate
        } else {
            PathBuf::from(path)
        }
    }

    pub fn arguments(&self) -> Vec<String> {
        self.custom_handler()["description"]["arguments"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn working_directory(&self) -> PathBuf {
        match self.custom_handler()["description"]["workingDirectory"].as_str() {
            Some(dir) if !dir.is_empty() => self.root.join(dir),
            _ => self.root.clone(),
        }
    }
}

struct Shared {
    app: App,
    mode: Mode,
    worker: String,
    client: reqwest::Client,
    /// Requests that reached the handler (after the key check).
    reached: AtomicUsize,
}

/// The host in front of a running handler.
pub struct Host {
    pub base: String,
    /// Owned so the handler process lives exactly as long as the host.
    _handler: Handler,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Host {
    /// Starts `binary` (or the app's own executable when `None`) as the host does, with
    /// `settings` as app settings, then serves the front door on a free port.
    pub async fn start(
        root: &Path,
        binary: Option<&Path>,
        settings: &HashMap<String, String>,
        mode: Mode,
    ) -> Host {
        let app = App::load(root);
        let mode = if app.forwarding_enabled() {
            mode
        } else {
            Mode::Payload
        };
        let port = free_port();
        let mut env = settings.clone();
        let id = uuid::Uuid::new_v4().to_string();
        for (name, value) in [
            ("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string()),
            ("FUNCTIONS_HTTPWORKER_PORT", port.to_string()),
            ("FUNCTIONS_CUSTOMHANDLER_WORKER_ID", id.clone()),
            ("FUNCTIONS_HTTPWORKER_ID", id),
            ("FUNCTIONS_APP_ROOT_PATH", root.display().to_string()),
            ("FUNCTIONS_WORKER_RUNTIME", "custom".to_owned()),
        ] {
            env.insert(name.to_owned(), value);
        }
        assert!(
            app.arguments().is_empty(),
            "the test host passes no arguments"
        );
        let exe = binary
            .map(Path::to_owned)
            .unwrap_or_else(|| app.executable());
        let dir = app.working_directory();
        let handler = tokio::task::block_in_place(|| Handler::start_binary(&exe, &env, &dir));
        wait_ready(&handler.base).await;

        let shared = Arc::new(Shared {
            app,
            mode,
            worker: handler.base.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            reached: AtomicUsize::new(0),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = Router::new()
            .fallback(front_door)
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Host {
            base,
            _handler: handler,
            shared,
            server,
        }
    }

    /// How many requests the handler has been sent.
    pub fn reached_handler(&self) -> usize {
        self.shared.reached.load(Ordering::SeqCst)
    }

    pub fn mode(&self) -> Mode {
        self.shared.mode
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// `GET /` every 25 ms; any HTTP answer means ready; 30 s of sleeps is the limit.
async fn wait_ready(base: &str) {
    let client = reqwest::Client::new();
    for _ in 0..1200 {
        if client.get(format!("{base}/")).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("Initializing HttpWorker timed out.");
}

fn empty(status: StatusCode) -> Response {
    (status, Body::empty()).into_response()
}

async fn front_door(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    let Some(route) = path.strip_prefix("/api/") else {
        return empty(StatusCode::NOT_FOUND);
    };
    // ASP.NET routing ignores one trailing slash; matching is case-insensitive (below).
    let route = route.strip_suffix('/').unwrap_or(route);
    let Some(function) = shared
        .app
        .functions
        .iter()
        .find(|f| f.route.eq_ignore_ascii_case(route))
    else {
        return empty(StatusCode::NOT_FOUND);
    };
    if let Some(methods) = &function.methods
        && !methods.iter().any(|m| m == parts.method.as_str())
    {
        return empty(StatusCode::NOT_FOUND);
    }
    let query = parse_query(parts.uri.query().unwrap_or(""));
    if function.auth_level != "anonymous" {
        let key = parts
            .headers
            .get("x-functions-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| {
                query
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("code"))
                    .map(|(_, v)| v.join(","))
            });
        let allowed = match function.auth_level.as_str() {
            "admin" => key.as_deref() == Some(HOST_KEY),
            _ => matches!(key.as_deref(), Some(FUNCTION_KEY | HOST_KEY)),
        };
        if !allowed {
            return empty(StatusCode::UNAUTHORIZED);
        }
    }
    let content_length = parts
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let bytes = to_bytes(body, 100 * 1024 * 1024).await.unwrap_or_default();

    let forwarding = shared.mode == Mode::Forwarding && function.http_in_out;
    shared.reached.fetch_add(1, Ordering::SeqCst);
    if forwarding {
        if content_length.is_none() && !bytes.is_empty() {
            // A chunked upload has no length; the host's HttpClient fails on it.
            return empty(StatusCode::INTERNAL_SERVER_ERROR);
        }
        forward(
            &shared,
            &parts.method,
            path,
            &query,
            &parts.headers,
            content_length,
            bytes,
        )
        .await
    } else {
        invoke(&shared, function, &parts, &query, content_length, bytes).await
    }
}

/// Query parsing as ASP.NET does it: `+` is a space, keys case-insensitive, first-seen order.
fn parse_query(query: &str) -> Vec<(String, Vec<String>)> {
    let mut parsed: Vec<(String, Vec<String>)> = Vec::new();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match parsed
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(&key))
        {
            Some((_, values)) => values.push(value.into_owned()),
            None => parsed.push((key.into_owned(), vec![value.into_owned()])),
        }
    }
    parsed
}

/// .NET `UrlEncoder.Default`: unreserved `A-Z a-z 0-9 - . _ ~ ! $ ( ) * , ; @` kept, the rest
/// `%XX` upper-case.
fn dotnet_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~!$()*,;@".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Content headers the host does not copy when it forwards (all but type and length).
const DROPPED_CONTENT_HEADERS: [&str; 9] = [
    "content-encoding",
    "content-language",
    "content-disposition",
    "content-md5",
    "content-range",
    "content-location",
    "expires",
    "last-modified",
    "allow",
];

async fn forward(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &[(String, Vec<String>)],
    headers: &HeaderMap,
    content_length: Option<u64>,
    body: bytes::Bytes,
) -> Response {
    let rebuilt: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{}={}", dotnet_encode(k), dotnet_encode(&v.join(","))))
        .collect();
    let mut url = format!("{}{path}", shared.worker);
    if !rebuilt.is_empty() {
        url = format!("{url}?{}", rebuilt.join("&"));
    }
    let mut request = shared.client.request(method.clone(), url);
    for (name, value) in headers {
        let lower = name.as_str();
        if DROPPED_CONTENT_HEADERS.contains(&lower)
            || lower == "host"
            || lower == "content-length"
            || lower == "user-agent"
            || lower == "transfer-encoding"
        {
            continue;
        }
        request = request.header(name, value);
    }
    let agent = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    request = request
        .header(
            "user-agent",
            format!("{agent} Azure-Functions-Host/{HOST_VERSION}")
                .trim()
                .to_owned(),
        )
        .header("x-azure-functions-hostversion", HOST_VERSION)
        .header(
            "x-azure-functions-invocationid",
            uuid::Uuid::new_v4().to_string(),
        );
    if content_length.unwrap_or(0) > 0 {
        request = request.body(body);
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(_) => return empty(StatusCode::INTERNAL_SERVER_ERROR),
    };
    let status = response.status();
    let mut out = Response::builder().status(status);
    for (name, value) in response.headers() {
        if name != "transfer-encoding" && name != "content-length" && name != "connection" {
            out = out.header(name, value);
        }
    }
    let bytes = response.bytes().await.unwrap_or_default();
    out.body(Body::from(bytes)).unwrap()
}

async fn invoke(
    shared: &Shared,
    function: &Function,
    parts: &axum::http::request::Parts,
    query: &[(String, Vec<String>)],
    content_length: Option<u64>,
    body: bytes::Bytes,
) -> Response {
    let mut header_arrays = Map::new();
    let mut header_strings = Map::new();
    for name in parts.headers.keys() {
        let values: Vec<String> = parts
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        let cased = kestrel_case(name.as_str());
        header_strings.insert(cased.clone(), json!(values.join(",")));
        header_arrays.insert(cased, json!(values));
    }
    let query_object: Map<String, Value> = query
        .iter()
        .map(|(k, v)| (k.clone(), json!(v.join(","))))
        .collect();
    let mut req = json!({
        "Url": format!("http://{}{}", parts.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost"), parts.uri),
        "Method": parts.method.as_str(),
        "Query": query_object,
        "Headers": header_arrays,
        "Params": {},
        "Identities": [{"AuthenticationType": "WebJobsAuthLevel", "IsAuthenticated": true, "Claims": []}],
    });
    if content_length.unwrap_or(0) > 0 {
        let content_type = parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let text = if content_type.starts_with("application/octet-stream")
            || content_type.starts_with("multipart/")
        {
            base64::engine::general_purpose::STANDARD.encode(&body)
        } else {
            // The host decodes other bodies as UTF-8, replacing what is not.
            String::from_utf8_lossy(&body).into_owned()
        };
        req["Body"] = json!(text);
    }
    let mut metadata = Map::new();
    for (key, values) in query {
        if !key.eq_ignore_ascii_case("code") {
            metadata.insert(
                key.clone(),
                json!(serde_json::to_string(values.last().unwrap()).unwrap()),
            );
        }
    }
    metadata.insert(
        "Query".into(),
        Value::Object(
            query
                .iter()
                .map(|(k, v)| (k.clone(), json!(v.last().unwrap())))
                .collect(),
        ),
    );
    metadata.insert("Headers".into(), Value::Object(header_strings));
    metadata.insert(
        "sys".into(),
        json!({"MethodName": function.name, "UtcNow": "2026-12-03T12:00:00Z", "RandGuid": uuid::Uuid::new_v4().to_string()}),
    );
    let payload = json!({"Data": {"req": req}, "Metadata": metadata});

    let sent = shared
        .client
        .post(format!("{}/{}", shared.worker, function.name))
        .header("content-type", "application/json; charset=utf-8")
        .header("user-agent", format!("Azure-Functions-Host/{HOST_VERSION}"))
        .header("x-azure-functions-hostversion", HOST_VERSION)
        .header(
            "x-azure-functions-invocationid",
            uuid::Uuid::new_v4().to_string(),
        )
        .body(payload.to_string())
        .send()
        .await;
    let Ok(response) = sent else {
        return empty(StatusCode::INTERNAL_SERVER_ERROR);
    };
    if !response.status().is_success() {
        return empty(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let media = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !(media.starts_with("application/json") || media.starts_with("text/json")) {
        return empty(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let text = response.text().await.unwrap_or_default();
    if text.trim().is_empty() || text.trim() == "null" {
        // The real host waits for the function timeout here, then restarts the handler.
        let mut hung = empty(StatusCode::INTERNAL_SERVER_ERROR);
        hung.headers_mut().insert(
            "x-test-host",
            HeaderValue::from_static("invocation-never-completes"),
        );
        return hung;
    }
    let Ok(Value::Object(result)) = serde_json::from_str::<Value>(&text) else {
        return empty(StatusCode::INTERNAL_SERVER_ERROR);
    };
    let outputs = result
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("outputs"))
        .map(|(_, v)| v.clone());
    let Some(outputs) = outputs else {
        return empty(StatusCode::OK);
    };
    let Some(res) = outputs.get("res").cloned() else {
        let mut response = (StatusCode::OK, "{}").into_response();
        response.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        return response;
    };
    http_output(res)
}

/// `Outputs.res` as the host turns it into the caller's response.
fn http_output(res: Value) -> Response {
    let res = match res {
        Value::String(text) => match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(object)) => Value::Object(object),
            _ => return empty(StatusCode::INTERNAL_SERVER_ERROR),
        },
        Value::Object(object) => Value::Object(object),
        _ => return empty(StatusCode::INTERNAL_SERVER_ERROR),
    };
    // `statusCode` only; `status` is ignored; a non-numeric string means 200.
    let status = match &res["statusCode"] {
        Value::Number(n) => n.as_u64().unwrap_or(200) as u16,
        Value::String(s) => s.parse().unwrap_or(200),
        _ => 200,
    };
    let (body, default_type) = match &res["body"] {
        Value::String(text) => (text.clone(), Some("text/plain; charset=utf-8")),
        Value::Null => (String::new(), None),
        Value::Bool(b) => (if *b { "True".into() } else { "False".into() }, None),
        Value::Number(n) => (n.to_string(), None),
        other => (serde_json::to_string_pretty(other).unwrap(), None),
    };
    let mut response =
        Response::builder().status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
    let mut has_type = false;
    if let Some(headers) = res["headers"].as_object() {
        let mut seen: Vec<String> = Vec::new();
        for (name, value) in headers {
            if seen.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                continue;
            }
            seen.push(name.clone());
            let mut text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => {
                    if *b {
                        "True".into()
                    } else {
                        "False".into()
                    }
                }
                Value::Null => return empty(StatusCode::INTERNAL_SERVER_ERROR),
                other => other.to_string(),
            };
            if name.eq_ignore_ascii_case("content-type") {
                has_type = true;
                if text.eq_ignore_ascii_case("application/json") {
                    text.push_str("; charset=utf-8");
                }
            }
            response = response.header(name.as_str(), text);
        }
    }
    if let (false, Some(default_type)) = (has_type, default_type) {
        response = response.header("content-type", default_type);
    }
    response.body(Body::from(body)).unwrap()
}

/// Kestrel reports header names in their canonical casing; close enough for a test double.
fn kestrel_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_rebuilt_as_the_host_does() {
        let parsed = parse_query("a=1&a=2&q=hello+world&name=Ink%20And%20Toner");
        let rebuilt: Vec<String> = parsed
            .iter()
            .map(|(k, v)| format!("{}={}", dotnet_encode(k), dotnet_encode(&v.join(","))))
            .collect();
        assert_eq!(
            rebuilt.join("&"),
            "a=1,2&q=hello%20world&name=Ink%20And%20Toner"
        );
        assert_eq!(parse_query("x")[0], ("x".to_owned(), vec![String::new()]));
    }

    #[test]
    fn res_mapping_follows_the_host() {
        let r = http_output(json!({"statusCode": "204"}));
        assert_eq!(r.status(), 204);
        let r = http_output(json!({"status": 404}));
        assert_eq!(r.status(), 200, "status is ignored");
        let r = http_output(
            json!({"body": "foobar", "statusCode": "301", "headers": {"header1": "header1Value"}}),
        );
        assert_eq!(
            (
                r.status().as_u16(),
                r.headers()["header1"].to_str().unwrap()
            ),
            (301, "header1Value")
        );
        let r = http_output(json!({"statusCode": "abc"}));
        assert_eq!(r.status(), 200);
        assert_eq!(http_output(json!("SomeBlah")).status(), 500);
        assert_eq!(http_output(json!(null)).status(), 500);
    }
}
