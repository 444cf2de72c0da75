//! State shared by the servers and the test or CLI that owns the emulator.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::http::request::Parts;
use bytes::Bytes;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::EmulatorOptions;
use super::faults::{Fault, FaultAction, Site};
use super::timefmt::OffsetDateTime;

/// One HTTP request as the emulator received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// Upper-case method, e.g. `POST`.
    pub method: String,
    /// The raw path, percent-encoding kept (`/identities/8%3Aacs%3A…`).
    pub path: String,
    /// The raw query string without `?`, if any.
    pub query: Option<String>,
    /// Header names in lower case, values lossily decoded, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body bytes exactly as received.
    pub body: Bytes,
}

impl RecordedRequest {
    pub(super) fn new(parts: &Parts, body: Bytes) -> Self {
        let headers = parts
            .headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect();
        RecordedRequest {
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers,
            body,
        }
    }

    /// The first value of a header, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The first value of a query parameter, percent- and `+`-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }
}

/// An SMS the emulated resource accepted for one recipient.
#[derive(Clone, Debug, PartialEq)]
pub struct SentSms {
    /// The sender as given in the request.
    pub from: String,
    /// The recipient, E.164.
    pub to: String,
    /// The message text.
    pub message: String,
    /// The `messageId` returned for this recipient.
    pub message_id: String,
    /// `smsSendOptions.tag`, if given.
    pub tag: Option<String>,
    /// `smsSendOptions.enableDeliveryReport` (false when the options were omitted).
    pub enable_delivery_report: bool,
    /// The recipient's `repeatabilityRequestId`, if given.
    pub repeatability_request_id: Option<String>,
}

/// Handle to everything the emulator remembers. Cloning is cheap; all clones share the data.
#[derive(Clone)]
pub struct EmulatorState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    data: Mutex<Data>,
    outbox_tx: broadcast::Sender<SentSms>,
    /// TCP connections the ACS server accepted; kept outside the lock, it is bumped per accept.
    acs_connections: AtomicU64,
}

/// Fixed settings and secrets of one emulator instance.
pub(super) struct Config {
    pub owned_senders: Vec<String>,
    /// Decoded HMAC key, when key auth is enabled.
    pub access_key: Option<Vec<u8>>,
    pub identity_header: String,
    pub managed_identity_token_lifetime: Duration,
    /// How many recorded requests (per server) and outbox entries are kept; `None`: all.
    pub history_limit: Option<usize>,
    /// The GUID of the emulated ACS resource, part of every user id.
    pub resource_id: Uuid,
    /// Client ids of the app's user-assigned identities.
    pub user_assigned_client_ids: Vec<String>,
    /// Client and object id reported for the emulated managed identity.
    pub managed_identity_client_id: Uuid,
    pub managed_identity_object_id: Uuid,
    /// Keys for the two kinds of JWT; random per instance so tokens never cross instances.
    pub managed_identity_key: Vec<u8>,
    pub acs_token_key: Vec<u8>,
}

impl Config {
    pub(super) fn new(options: &EmulatorOptions, access_key: Option<Vec<u8>>) -> Self {
        Config {
            owned_senders: options.owned_senders.clone(),
            access_key,
            identity_header: options.identity_header.clone(),
            managed_identity_token_lifetime: options.managed_identity_token_lifetime,
            history_limit: options.history_limit,
            user_assigned_client_ids: options.user_assigned_client_ids.clone(),
            resource_id: Uuid::new_v4(),
            managed_identity_client_id: Uuid::new_v4(),
            managed_identity_object_id: Uuid::new_v4(),
            managed_identity_key: random_key(),
            acs_token_key: random_key(),
        }
    }
}

/// 32 random bytes, taken from two v4 UUIDs to avoid another dependency.
fn random_key() -> Vec<u8> {
    let mut key = Uuid::new_v4().as_bytes().to_vec();
    key.extend_from_slice(Uuid::new_v4().as_bytes());
    key
}

/// Mutable data behind the state's lock.
#[derive(Default)]
pub(super) struct Data {
    pub requests: VecDeque<RecordedRequest>,
    pub identity_requests: VecDeque<RecordedRequest>,
    pub outbox: VecDeque<SentSms>,
    pub issued_managed_identity_tokens: Vec<String>,
    /// `to` → (status, message) for recipients that must fail.
    pub rejections: HashMap<String, (u16, String)>,
    pub faults: VecDeque<Fault>,
    /// ACS identities by id (`8:acs:…`); deleted identities are removed.
    pub identities: HashMap<String, IdentityRecord>,
    /// `customId` → id, for idempotent creation (2025-03-02-preview).
    pub custom_ids: HashMap<String, String>,
    /// `(to, repeatabilityRequestId)` → outcome of the first send.
    pub repeatability: HashMap<(String, String), RepeatRecord>,
    /// When expired `repeatability` records were last swept out.
    pub repeatability_pruned_at: Option<Instant>,
}

/// What the emulator knows about one ACS identity.
pub(super) struct IdentityRecord {
    pub custom_id: Option<String>,
    pub last_token_issued_at: Option<OffsetDateTime>,
}

/// The remembered outcome of a send with a repeatability id.
pub(super) struct RepeatRecord {
    pub seen_at: Instant,
    /// Identifies the payload so a reused id with different content can be refused.
    pub fingerprint: String,
    pub item: serde_json::Value,
}

impl EmulatorState {
    pub(super) fn new(config: Config) -> Self {
        let (outbox_tx, _) = broadcast::channel(1024);
        EmulatorState {
            inner: Arc::new(Inner {
                config,
                data: Mutex::new(Data::default()),
                outbox_tx,
                acs_connections: AtomicU64::new(0),
            }),
        }
    }

    pub(super) fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Locks the data. A panic while holding the lock cannot leave it half-updated in a way that
    /// matters to a test double, so a poisoned lock is simply taken over.
    pub(super) fn data(&self) -> MutexGuard<'_, Data> {
        self.inner
            .data
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn record(&self, site: Site, request: RecordedRequest) {
        let limit = self.config().history_limit;
        let mut data = self.data();
        let log = match site {
            Site::Acs => &mut data.requests,
            Site::Identity => &mut data.identity_requests,
        };
        push_bounded(log, request, limit);
    }

    /// Removes and returns the first queued fault that applies to this request.
    pub(super) fn take_fault(&self, site: Site, decoded_path: &str) -> Option<FaultAction> {
        let mut data = self.data();
        let index = data
            .faults
            .iter()
            .position(|f| f.target.matches(site, decoded_path))?;
        data.faults.remove(index).map(|f| f.action)
    }

    pub(super) fn count_connection(&self, site: Site) {
        if site == Site::Acs {
            self.inner.acs_connections.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Adds an accepted SMS to the outbox and tells subscribers.
    pub(super) fn send_sms(&self, sms: SentSms) {
        push_bounded(
            &mut self.data().outbox,
            sms.clone(),
            self.config().history_limit,
        );
        // No subscriber is fine: the outbox keeps the message.
        let _ = self.inner.outbox_tx.send(sms);
    }

    /// Every request the ACS server received, in order, including rejected ones (the newest
    /// [`EmulatorOptions::history_limit`] when one is set).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.data().requests.iter().cloned().collect()
    }

    /// Every request the managed-identity endpoint received, in order (the newest
    /// [`EmulatorOptions::history_limit`] when one is set).
    pub fn identity_requests(&self) -> Vec<RecordedRequest> {
        self.data().identity_requests.iter().cloned().collect()
    }

    /// SMS accepted so far, one entry per accepted recipient (replays add nothing); the newest
    /// [`EmulatorOptions::history_limit`] when one is set.
    pub fn outbox(&self) -> Vec<SentSms> {
        self.data().outbox.iter().cloned().collect()
    }

    /// A receiver of every SMS accepted from now on.
    pub fn subscribe_outbox(&self) -> broadcast::Receiver<SentSms> {
        self.inner.outbox_tx.subscribe()
    }

    /// TCP connections the ACS server has accepted since start (TLS handshakes attempted): a
    /// client that pools its connections keeps this near its concurrency. `clear` keeps it.
    pub fn connections_accepted(&self) -> u64 {
        self.inner.acs_connections.load(Ordering::Relaxed)
    }

    /// Every access token the managed-identity endpoint issued.
    pub fn issued_managed_identity_tokens(&self) -> Vec<String> {
        self.data().issued_managed_identity_tokens.clone()
    }

    /// Makes future sends to `to` fail with this status and message inside the 202 answer.
    pub fn reject_recipient(&self, to: &str, http_status: u16, error_message: &str) {
        self.data()
            .rejections
            .insert(to.to_owned(), (http_status, error_message.to_owned()));
    }

    /// Queues a fault; it applies to exactly one future matching request, first in first out.
    pub fn push_fault(&self, fault: Fault) {
        self.data().faults.push_back(fault);
    }

    /// Forgets recorded requests, the outbox, queued faults, recipient rejections and the
    /// repeatability cache. Identities and issued tokens stay valid.
    pub fn clear(&self) {
        let mut data = self.data();
        data.requests.clear();
        data.identity_requests.clear();
        data.outbox.clear();
        data.faults.clear();
        data.rejections.clear();
        data.repeatability.clear();
    }
}

/// Appends `item`, dropping the oldest entries beyond `limit`.
fn push_bounded<T>(log: &mut VecDeque<T>, item: T, limit: Option<usize>) {
    log.push_back(item);
    if let Some(limit) = limit {
        while log.len() > limit {
            log.pop_front();
        }
    }
}
