//! [`SimpayClient`], one type for both ways of reaching simpay: a direct handle in the same process
//! or HTTP to a standalone one. The platform codes against this type and picks the transport in
//! its configuration; both give the same answers for the same calls.
//!
//! Over HTTP an unknown outcome is [`SimpayError::Timeout`] (a 504, or no answer within the
//! request timeout: the request may have been processed), while [`SimpayError::Transport`] means
//! simpay could not be reached or answered nonsense. Retrying either with the same reference is
//! safe because every creating call is idempotent by reference.

use crate::calendar::shanghai_day_span_ms;
use crate::error::SimpayError;
use crate::gateway::SimPay;
use crate::http::{ErrorBody, WebhookConfig};
use crate::model::{
    AuthorizeRequest, CaptureRequest, Charge, DeliveryStats, Event, Faults, Refund, RefundRequest, StatementEntry,
};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use std::time::Duration;

#[derive(Clone)]
pub struct SimpayClient {
    transport: Transport,
}

#[derive(Clone)]
enum Transport {
    InProcess(SimPay),
    Http(HttpTransport),
}

#[derive(Clone)]
struct HttpTransport {
    /// `scheme://host:port[/prefix]` without a trailing slash.
    base_url: String,
    http: reqwest::Client,
    request_timeout: Duration,
}

impl SimpayClient {
    pub fn in_process(simpay: SimPay) -> SimpayClient {
        SimpayClient {
            transport: Transport::InProcess(simpay),
        }
    }

    /// A client of the simpay serving at `base_url` (`http://127.0.0.1:7070`). A call without a
    /// complete answer within `request_timeout` is a [`SimpayError::Timeout`].
    pub fn http(base_url: String, request_timeout: Duration) -> Result<SimpayClient, SimpayError> {
        let parsed = reqwest::Url::parse(&base_url)
            .map_err(|error| SimpayError::InvalidRequest(format!("base url {base_url:?}: {error}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() {
            return Err(SimpayError::InvalidRequest(format!(
                "base url {base_url:?} is not an http(s) url without a query"
            )));
        }
        Ok(SimpayClient {
            transport: Transport::Http(HttpTransport {
                base_url: base_url.trim_end_matches('/').to_string(),
                http: reqwest::Client::new(),
                request_timeout,
            }),
        })
    }

    pub async fn authorize(&self, request: AuthorizeRequest) -> Result<Charge, SimpayError> {
        match &self.transport {
            Transport::InProcess(simpay) => simpay.authorize(request).await,
            Transport::Http(http) => {
                http.send(http.request(Method::POST, "/v1/charges").json(&request))
                    .await
            }
        }
    }

    pub async fn capture(&self, reference: &str, amount_fen: Option<i64>) -> Result<Charge, SimpayError> {
        match &self.transport {
            Transport::InProcess(simpay) => simpay.capture(reference, amount_fen).await,
            Transport::Http(_) if unaddressable(reference) => Err(SimpayError::NotFound),
            Transport::Http(http) => {
                let path = format!("/v1/charges/{}/capture", encode_segment(reference));
                let body = CaptureRequest { amount_fen };
                http.send(http.request(Method::POST, &path).json(&body)).await
            }
        }
    }

    pub async fn void(&self, reference: &str) -> Result<Charge, SimpayError> {
        match &self.transport {
            Transport::InProcess(simpay) => simpay.void(reference).await,
            Transport::Http(_) if unaddressable(reference) => Err(SimpayError::NotFound),
            Transport::Http(http) => {
                let path = format!("/v1/charges/{}/void", encode_segment(reference));
                http.send(http.request(Method::POST, &path)).await
            }
        }
    }

    pub async fn charge(&self, reference: &str) -> Result<Option<Charge>, SimpayError> {
        match &self.transport {
            Transport::InProcess(simpay) => simpay.charge(reference).await,
            Transport::Http(_) if unaddressable(reference) => Ok(None),
            Transport::Http(http) => {
                let path = format!("/v1/charges/{}", encode_segment(reference));
                http.send_lookup(http.request(Method::GET, &path)).await
            }
        }
    }

    pub async fn refund(&self, request: RefundRequest) -> Result<Refund, SimpayError> {
        match &self.transport {
            Transport::InProcess(simpay) => simpay.refund(request).await,
            Transport::Http(http) => {
                http.send(http.request(Method::POST, "/v1/refunds").json(&request))
                    .await
            }
        }
    }

    pub async fn refund_by_reference(&self, reference: &str) -> Result<Option<Refund>, SimpayError> {
        match &self.transport {
            Transport::InProcess(simpay) => simpay.refund_by_reference(reference).await,
            Transport::Http(_) if unaddressable(reference) => Ok(None),
            Transport::Http(http) => {
                let path = format!("/v1/refunds/{}", encode_segment(reference));
                http.send_lookup(http.request(Method::GET, &path)).await
            }
        }
    }

    pub async fn statement(&self, day: &str) -> Result<Vec<StatementEntry>, SimpayError> {
        match &self.transport {
            Transport::InProcess(simpay) => simpay.statement(day).await,
            Transport::Http(http) => {
                // Checked here too so that a day that is no path segment fails as in process.
                shanghai_day_span_ms(day)?;
                let path = format!("/v1/statements/{}", encode_segment(day));
                http.send(http.request(Method::GET, &path)).await
            }
        }
    }

    pub async fn set_faults(&self, faults: Faults) -> Result<(), SimpayError> {
        match &self.transport {
            Transport::InProcess(simpay) => {
                simpay.set_faults(faults);
                Ok(())
            }
            Transport::Http(http) => {
                let _: Faults = http
                    .send(http.request(Method::PUT, "/v1/config/faults").json(&faults))
                    .await?;
                Ok(())
            }
        }
    }

    pub async fn set_webhook_url(&self, url: Option<String>) -> Result<(), SimpayError> {
        match &self.transport {
            Transport::InProcess(simpay) => {
                simpay.set_webhook_url(url);
                Ok(())
            }
            Transport::Http(http) => {
                let body = WebhookConfig { url };
                let _: WebhookConfig = http
                    .send(http.request(Method::PUT, "/v1/config/webhook").json(&body))
                    .await?;
                Ok(())
            }
        }
    }

    pub async fn events(&self) -> Result<Vec<Event>, SimpayError> {
        match &self.transport {
            Transport::InProcess(simpay) => Ok(simpay.events()),
            Transport::Http(http) => http.send(http.request(Method::GET, "/v1/events")).await,
        }
    }

    pub async fn delivery_stats(&self) -> Result<DeliveryStats, SimpayError> {
        match &self.transport {
            Transport::InProcess(simpay) => Ok(simpay.delivery_stats()),
            Transport::Http(http) => http.send(http.request(Method::GET, "/v1/deliveries/stats")).await,
        }
    }
}

impl HttpTransport {
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base_url))
            .timeout(self.request_timeout)
    }

    async fn send<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, SimpayError> {
        let response = request.send().await.map_err(from_reqwest)?;
        let status = response.status();
        if status.is_success() {
            return response.json().await.map_err(from_reqwest);
        }
        if status == StatusCode::GATEWAY_TIMEOUT {
            return Err(SimpayError::Timeout);
        }
        let body = response.bytes().await.map_err(from_reqwest)?;
        match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(body) => Err(from_wire(body)),
            Err(_) => Err(SimpayError::Transport(format!(
                "HTTP {status} without a simpay error body"
            ))),
        }
    }

    /// `send` for a lookup, where `not_found` is an answer rather than an error.
    async fn send_lookup<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<Option<T>, SimpayError> {
        match self.send(request).await {
            Ok(found) => Ok(Some(found)),
            Err(SimpayError::NotFound) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

fn from_reqwest(error: reqwest::Error) -> SimpayError {
    if error.is_timeout() {
        SimpayError::Timeout
    } else {
        SimpayError::Transport(error.to_string())
    }
}

fn from_wire(body: ErrorBody) -> SimpayError {
    match body.error.as_str() {
        "invalid_request" => SimpayError::InvalidRequest(body.message),
        "reference_conflict" => SimpayError::ReferenceConflict,
        "not_found" => SimpayError::NotFound,
        "invalid_state" => SimpayError::InvalidState(body.message),
        "timeout" => SimpayError::Timeout,
        other => SimpayError::Transport(format!("{other}: {}", body.message)),
    }
}

/// References no object can have and no URL path segment can carry: an empty one would name
/// another route, and URLs resolve `.` and `..` away. The client answers for them as simpay would.
fn unaddressable(reference: &str) -> bool {
    matches!(reference, "" | "." | "..")
}

/// Percent-encodes every byte but the unreserved ones, dots included, so that a reference such as
/// `a/b` or `..` stays one path segment and is never normalised away.
fn encode_segment(segment: &str) -> String {
    let mut encoded = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_keeps_only_unreserved_bytes_literal() {
        assert_eq!(encode_segment("order-42_a~"), "order-42_a~");
        assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
        assert_eq!(encode_segment(".."), "%2E%2E");
        assert_eq!(encode_segment("订"), "%E8%AE%A2");
    }
}
