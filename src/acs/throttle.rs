//! Throttling the deadline cannot outwait.
//!
//! `azure_core`'s retry policy sleeps for the longer of its back-off and the server's
//! `Retry-After`, even when that sleep outlasts our deadline. A `Retry-After: 60` under a 30 s
//! deadline would then hold the caller for 30 s and end in a 504 that says nothing about when
//! to come back. This per-try policy stops the retries instead, so the 429 (or 503) reaches the
//! error mapping at once, `Retry-After` intact.

use super::AcsError;
use async_trait::async_trait;
use azure_core::{
    error::ErrorKind,
    http::{
        Context, Request,
        headers::RETRY_AFTER,
        policies::{Policy, PolicyResult},
    },
};
use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

/// When the current ACS operation must be over; put in the pipeline's [`Context`] by
/// `AcsClient::send`.
#[derive(Debug, Clone, Copy)]
pub(super) struct CallDeadline(pub Instant);

#[derive(Debug)]
pub(super) struct ThrottleCutoff;

// The trait spells `&Context` with an elided lifetime, and an impl must match it.
#[allow(elided_lifetimes_in_paths)]
#[async_trait]
impl Policy for ThrottleCutoff {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let response = next[0].send(ctx, request, &next[1..]).await?;
        let status = u16::from(response.status());
        // The retry policy honours `Retry-After` on these two statuses only.
        if status != 429 && status != 503 {
            return Ok(response);
        }
        let Some(CallDeadline(deadline)) = ctx.value::<CallDeadline>().copied() else {
            return Ok(response);
        };
        let Some(retry_after) = response.headers().get_optional_string(&RETRY_AFTER) else {
            return Ok(response);
        };
        match wait_of(&retry_after, SystemTime::now()) {
            Some(wait) if Instant::now() + wait >= deadline => {}
            _ => return Ok(response),
        }

        // Not a transport error, so the retry policy hands it back without another attempt.
        let body = response.into_body().collect().await?;
        let error = AcsError::from_response(status, &body, Some(retry_after));
        Err(azure_core::Error::new(ErrorKind::Other, error))
    }
}

/// How long `Retry-After` asks us to wait: delta-seconds or an HTTP date (RFC 9110 §10.2.3).
pub(super) fn wait_of(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_seconds_and_dates() {
        let now = httpdate::parse_http_date("Fri, 13 Jan 2023 15:07:32 GMT").unwrap();
        assert_eq!(wait_of("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            wait_of("Fri, 13 Jan 2023 15:08:32 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            wait_of("Fri, 13 Jan 2023 15:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(wait_of("soon", now), None);
        assert_eq!(wait_of("-1", now), None);
    }
}
