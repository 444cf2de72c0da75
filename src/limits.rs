//! Per-instance SMS rate limits: per destination number and per caller.
//!
//! These live in one process, so with several instances each enforces its own budget; a global
//! limit belongs in front of the app (API Management, Front Door).

use crate::{error::ApiError, phone::PhoneNumber};
use axum::http::{HeaderMap, StatusCode, Uri};
use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use sha2::{Digest, Sha256};
use std::{
    collections::{HashMap, VecDeque},
    num::NonZeroU32,
    sync::{
        Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

/// How often (in checks) idle keys are forgotten, so the maps stay small.
const SWEEP_EVERY: u32 = 1024;
const HOUR: Duration = Duration::from_secs(60 * 60);

/// The limiters; a `None` limit is off.
#[derive(Debug)]
pub struct SmsLimits {
    per_number: Option<NumberBudgets>,
    per_caller: Option<DefaultKeyedRateLimiter<String>>,
    checks: AtomicU32,
}

/// What the per-number limit said about the recipients of an admitted request.
#[derive(Debug)]
pub struct Admission {
    /// Per recipient, in request order: `None` when it may be sent, else how long until its
    /// number may receive again.
    pub limited: Vec<Option<Duration>>,
    /// When the admitted recipients' sends were counted, to give back those that did not
    /// happen.
    counted_at: Instant,
}

impl SmsLimits {
    /// `per_number_per_hour` messages to one number per hour; `per_caller_per_minute` requests
    /// from one caller per minute; 0 turns a limit off.
    pub fn new(per_number_per_hour: u32, per_caller_per_minute: u32) -> Self {
        Self {
            per_number: (per_number_per_hour > 0).then(|| NumberBudgets {
                per_hour: per_number_per_hour as usize,
                sends: Mutex::default(),
            }),
            per_caller: NonZeroU32::new(per_caller_per_minute)
                .map(|n| RateLimiter::hashmap(Quota::per_minute(n))),
            checks: AtomicU32::new(0),
        }
    }

    /// Admits one request from `caller` to `recipients`.
    ///
    /// A caller over its limit, or a request whose every recipient is over its number's limit,
    /// is a 429 with `Retry-After`. Otherwise each recipient is judged on its own, and each one
    /// admitted counts as a message to its number until [`SmsLimits::give_back`] says it was
    /// not sent: a number over its limit cannot spend, or lock out, the others' budgets.
    pub fn admit(&self, caller: &str, recipients: &[PhoneNumber]) -> Result<Admission, ApiError> {
        let now = Instant::now();
        self.sweep(now);
        if let Some(Err(not_until)) = self
            .per_caller
            .as_ref()
            .map(|l| l.check_key(&caller.to_owned()))
        {
            return Err(too_many(
                "this caller has sent too many SMS requests",
                None,
                not_until.wait_time_from(DefaultClock::default().now()),
            ));
        }
        let limited = match &self.per_number {
            Some(budgets) => budgets.take(recipients, now),
            None => vec![None; recipients.len()],
        };
        if limited.iter().any(Option::is_none) {
            return Ok(Admission {
                limited,
                counted_at: now,
            });
        }
        let soonest = limited.iter().flatten().min().copied().unwrap_or_default();
        let (message, target) = match recipients.len() {
            1 => (
                "recipient 0 has had too many messages",
                Some("to[0]".into()),
            ),
            _ => ("every recipient has had too many messages", None),
        };
        Err(too_many(message, target, soonest))
    }

    /// Takes back the counted messages of admitted recipients that were certainly not sent
    /// (ACS refused them, or the request never reached ACS).
    pub fn give_back<'a>(
        &self,
        admission: &Admission,
        unsent: impl IntoIterator<Item = &'a PhoneNumber>,
    ) {
        if let Some(budgets) = &self.per_number {
            budgets.give_back(unsent, admission.counted_at);
        }
    }

    fn sweep(&self, now: Instant) {
        if self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(SWEEP_EVERY)
        {
            if let Some(budgets) = &self.per_number {
                budgets.forget_idle(now);
            }
            if let Some(limiter) = &self.per_caller {
                limiter.retain_recent();
            }
        }
    }
}

/// The messages each number received in the last hour, as their times: a number may receive
/// `per_hour` in any hour. Unlike a token bucket, a log can take back a message that was counted
/// but never sent.
#[derive(Debug)]
struct NumberBudgets {
    per_hour: usize,
    sends: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl NumberBudgets {
    /// Counts a message at `now` for each number with budget left; for the others, the wait
    /// until it has some.
    fn take(&self, numbers: &[PhoneNumber], now: Instant) -> Vec<Option<Duration>> {
        let mut sends = self
            .sends
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        numbers
            .iter()
            .map(|number| {
                let log = sends.entry(number.as_str().to_owned()).or_default();
                while log.front().is_some_and(|sent| now - *sent >= HOUR) {
                    log.pop_front();
                }
                match log.front() {
                    Some(oldest) if log.len() >= self.per_hour => Some(HOUR - (now - *oldest)),
                    _ => {
                        log.push_back(now);
                        None
                    }
                }
            })
            .collect()
    }

    fn give_back<'a>(&self, numbers: impl IntoIterator<Item = &'a PhoneNumber>, at: Instant) {
        let mut sends = self
            .sends
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for number in numbers {
            if let Some(log) = sends.get_mut(number.as_str())
                && let Some(index) = log.iter().rposition(|sent| *sent == at)
            {
                log.remove(index);
            }
        }
    }

    fn forget_idle(&self, now: Instant) {
        let mut sends = self
            .sends
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        sends.retain(|_, log| log.back().is_some_and(|sent| now - *sent < HOUR));
    }
}

/// Whole seconds, rounded up and at least 1: what `Retry-After` says for `wait`.
pub fn retry_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

fn too_many(message: &str, target: Option<String>, wait: Duration) -> ApiError {
    let seconds = retry_seconds(wait);
    let mut error = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "RateLimited",
        format!("{message}; retry in {seconds} s"),
    )
    .with_retry_after(seconds.to_string());
    if let Some(target) = target {
        error = error.with_target(target);
    }
    error
}

/// Who is calling, for the per-caller limit.
///
/// The App Service Authentication principal when `trust_principal` says that App Service
/// Authentication is in front of the app: without it anyone can write the principal headers,
/// and a made-up id per request would escape the limit. Otherwise the function key (hashed:
/// the key itself is never kept), else `anonymous`.
pub fn caller_key(headers: &HeaderMap, uri: &Uri, trust_principal: bool) -> String {
    if trust_principal
        && let Some(principal) = headers
            .get("x-ms-client-principal-id")
            .and_then(|v| v.to_str().ok())
    {
        return format!("principal:{principal}");
    }
    // The key the host checked: the header wins over `?code=` (any letter case), and of values
    // the host joined with commas only the first counts. What follows it is the caller's own
    // choosing and must not make a new caller.
    let key = headers
        .get("x-functions-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                .find(|(k, _)| k.eq_ignore_ascii_case("code"))
                .map(|(_, v)| v.into_owned())
        })
        .map(|key| key.split(',').next().unwrap_or_default().trim().to_owned());
    match key {
        Some(key) => {
            let digest = Sha256::digest(key.as_bytes());
            let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
            format!("key:{hex}")
        }
        None => "anonymous".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(n: &str) -> PhoneNumber {
        PhoneNumber::parse(n).unwrap()
    }

    #[test]
    fn per_number_limit_answers_429_with_retry_after() {
        let limits = SmsLimits::new(2, 0);
        let to = [number("+14255550123")];
        assert_eq!(limits.admit("a", &to).unwrap().limited, vec![None]);
        assert!(limits.admit("b", &to).is_ok());
        let error = limits.admit("c", &to).unwrap_err();
        assert_eq!(error.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(error.target.as_deref(), Some("to[0]"));
        let retry: u64 = error.retry_after.unwrap().parse().unwrap();
        assert!((1..=3600).contains(&retry), "{retry}");
        assert!(
            limits.admit("d", &[number("+14255550124")]).is_ok(),
            "other numbers are unaffected"
        );
    }

    #[test]
    fn a_request_whose_every_number_is_spent_is_429_without_a_target() {
        let limits = SmsLimits::new(1, 0);
        let to = [number("+14255550123"), number("+14255550124")];
        assert_eq!(limits.admit("a", &to).unwrap().limited, vec![None, None]);

        let error = limits.admit("a", &to).unwrap_err();

        assert_eq!(error.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(error.target, None);
        assert!(
            error.message.contains("every recipient"),
            "{}",
            error.message
        );
    }

    #[test]
    fn only_admitted_recipients_are_charged() {
        let limits = SmsLimits::new(1, 0);
        let spent = number("+14255550123");
        let fresh = number("+14255550124");
        limits.admit("a", std::slice::from_ref(&spent)).unwrap();
        assert!(limits.admit("a", std::slice::from_ref(&spent)).is_err());

        let admission = limits.admit("a", &[spent, fresh.clone()]).unwrap().limited;

        assert!(admission[0].is_some_and(|wait| wait > Duration::ZERO));
        assert_eq!(admission[1], None);
        assert!(
            limits.admit("a", &[fresh]).is_err(),
            "the fresh number's one message went out in the mixed request"
        );
    }

    #[test]
    fn a_message_given_back_leaves_the_budget_as_it_was() {
        let limits = SmsLimits::new(1, 0);
        let to = [number("+14255550123")];

        let admission = limits.admit("a", &to).unwrap();
        limits.give_back(&admission, &to);

        let again = limits.admit("a", &to).unwrap();
        assert_eq!(again.limited, vec![None]);
        assert!(limits.admit("a", &to).is_err(), "counted once it was kept");
        limits.give_back(&admission, &to);
        assert!(
            limits.admit("a", &to).is_err(),
            "only its own message goes back"
        );
    }

    #[test]
    fn per_caller_limit_is_per_caller() {
        let limits = SmsLimits::new(0, 1);
        assert!(limits.admit("a", &[number("+14255550123")]).is_ok());
        assert!(limits.admit("a", &[number("+14255550124")]).is_err());
        assert!(limits.admit("b", &[number("+14255550124")]).is_ok());
    }

    #[test]
    fn caller_keys_never_hold_the_key() {
        let mut headers = HeaderMap::new();
        headers.insert("x-functions-key", "s3cret-key".parse().unwrap());
        let key = caller_key(&headers, &"/api/sms".parse().unwrap(), false);
        assert!(key.starts_with("key:") && !key.contains("s3cret"));
        let from_query = caller_key(
            &HeaderMap::new(),
            &"/api/sms?code=s3cret-key".parse().unwrap(),
            false,
        );
        assert_eq!(key, from_query);
        assert_eq!(
            caller_key(&HeaderMap::new(), &"/api/sms".parse().unwrap(), false),
            "anonymous"
        );
    }

    #[test]
    fn only_the_key_the_host_checked_names_the_caller() {
        let key = |header: Option<&str>, uri: &str| {
            let mut headers = HeaderMap::new();
            if let Some(value) = header {
                headers.insert("x-functions-key", value.parse().unwrap());
            }
            caller_key(&headers, &uri.parse().unwrap(), false)
        };
        let caller = key(Some("s3cret-key"), "/api/sms");
        for (header, uri) in [
            (Some("s3cret-key, anything"), "/api/sms"),
            (None, "/api/sms?code=s3cret-key,anything"),
            (None, "/api/sms?Code=s3cret-key"),
            (Some("s3cret-key"), "/api/sms?code=other"),
        ] {
            assert_eq!(key(header, uri), caller, "{header:?} {uri}");
        }
    }

    #[test]
    fn principal_headers_count_only_behind_app_service_authentication() {
        let mut headers = HeaderMap::new();
        headers.insert("x-functions-key", "s3cret-key".parse().unwrap());
        headers.insert("x-ms-client-principal-id", "made-up".parse().unwrap());
        let uri: Uri = "/api/sms".parse().unwrap();

        assert!(caller_key(&headers, &uri, false).starts_with("key:"));
        assert_eq!(caller_key(&headers, &uri, true), "principal:made-up");
    }
}
