//! [`SimCarrierClient`], one type for both ways of reaching the carrier simulator: a direct handle
//! in the same process or HTTP to a standalone one. The platform codes against this type and picks
//! the transport in its configuration; both give the same answers for the same calls.
//!
//! Over HTTP an unknown outcome is [`SimCarrierError::Timeout`] (a 504, or no answer within the
//! request timeout: the request may have been processed), while [`SimCarrierError::Transport`]
//! means the simulator could not be reached or answered nonsense. Retrying a `create_waybill` with
//! the same reference is safe; retrying an `advance` plays nothing twice; retrying an `emit` may
//! emit twice, as a real carrier's push may.

use crate::book::check_time;
use crate::error::SimCarrierError;
use crate::http::{ErrorBody, Health, WebhookConfig};
use crate::model::{
    AdvanceRequest, CreateWaybill, DeliveryAttempt, DeliveryStats, EmitRequest, Faults, RedirectRequest, Tracking,
    TrackingEvent, TrackingState, Waybill,
};
use crate::simulator::SimCarrier;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use std::time::Duration;

#[derive(Clone)]
pub struct SimCarrierClient {
    transport: Transport,
}

#[derive(Clone)]
enum Transport {
    InProcess(SimCarrier),
    Http(HttpTransport),
}

#[derive(Clone)]
struct HttpTransport {
    /// `scheme://host:port[/prefix]` without a trailing slash.
    base_url: String,
    http: reqwest::Client,
    request_timeout: Duration,
}

impl SimCarrierClient {
    pub fn in_process(simcarrier: SimCarrier) -> SimCarrierClient {
        SimCarrierClient {
            transport: Transport::InProcess(simcarrier),
        }
    }

    /// A client of the simulator serving at `base_url` (`http://127.0.0.1:7071`). A call without a
    /// complete answer within `request_timeout` is a [`SimCarrierError::Timeout`].
    pub fn http(base_url: String, request_timeout: Duration) -> Result<SimCarrierClient, SimCarrierError> {
        let parsed = reqwest::Url::parse(&base_url)
            .map_err(|error| SimCarrierError::InvalidRequest(format!("base url {base_url:?}: {error}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() {
            return Err(SimCarrierError::InvalidRequest(format!(
                "base url {base_url:?} is not an http(s) url without a query"
            )));
        }
        Ok(SimCarrierClient {
            transport: Transport::Http(HttpTransport {
                base_url: base_url.trim_end_matches('/').to_string(),
                http: reqwest::Client::new(),
                request_timeout,
            }),
        })
    }

    pub async fn create_waybill(&self, request: CreateWaybill) -> Result<Waybill, SimCarrierError> {
        match &self.transport {
            Transport::InProcess(simcarrier) => simcarrier.create_waybill(request).await,
            Transport::Http(http) => http.send(http.request(Method::POST, "/waybills").json(&request)).await,
        }
    }

    /// See [`SimCarrier::quote`].
    pub async fn quote(&self, request: &crate::tariff::QuoteRequest) -> Result<crate::tariff::Quote, SimCarrierError> {
        match &self.transport {
            Transport::InProcess(simcarrier) => simcarrier.quote(request),
            Transport::Http(http) => http.send(http.request(Method::POST, "/quotes").json(request)).await,
        }
    }

    /// What the simulator knows of a waybill; none when there is no such waybill.
    pub async fn tracking(&self, waybill_no: &str) -> Result<Option<Tracking>, SimCarrierError> {
        match &self.transport {
            Transport::InProcess(simcarrier) => Ok(simcarrier.tracking(waybill_no)),
            Transport::Http(_) if unaddressable(waybill_no) => Ok(None),
            Transport::Http(http) => {
                let path = format!("/waybills/{}", encode_segment(waybill_no));
                http.send_lookup(http.request(Method::GET, &path)).await
            }
        }
    }

    /// See [`SimCarrier::advance`].
    pub async fn advance(
        &self,
        waybill_no: &str,
        up_to: TrackingState,
        at_ms: i64,
    ) -> Result<Vec<TrackingEvent>, SimCarrierError> {
        match &self.transport {
            Transport::InProcess(simcarrier) => simcarrier.advance(waybill_no, up_to, at_ms).await,
            Transport::Http(_) if unaddressable(waybill_no) => Err(SimCarrierError::NotFound),
            Transport::Http(http) => {
                // Checked here too: a time that has no RFC 3339 text cannot be sent.
                check_time(at_ms)?;
                let path = format!("/waybills/{}/advance", encode_segment(waybill_no));
                let body = AdvanceRequest {
                    state: up_to,
                    at: Some(at_ms),
                };
                http.send(http.request(Method::POST, &path).json(&body)).await
            }
        }
    }

    /// See [`SimCarrier::redirect`].
    pub async fn redirect(&self, waybill_no: &str, destination_adcode: &str) -> Result<Tracking, SimCarrierError> {
        match &self.transport {
            Transport::InProcess(simcarrier) => simcarrier.redirect(waybill_no, destination_adcode).await,
            Transport::Http(_) if unaddressable(waybill_no) => Err(SimCarrierError::NotFound),
            Transport::Http(http) => {
                let path = format!("/waybills/{}/redirect", encode_segment(waybill_no));
                let body = RedirectRequest {
                    destination_adcode: destination_adcode.to_string(),
                };
                http.send(http.request(Method::POST, &path).json(&body)).await
            }
        }
    }

    /// See [`SimCarrier::emit`].
    pub async fn emit(
        &self,
        waybill_no: &str,
        state: TrackingState,
        occurred_at_ms: i64,
    ) -> Result<TrackingEvent, SimCarrierError> {
        match &self.transport {
            Transport::InProcess(simcarrier) => simcarrier.emit(waybill_no, state, occurred_at_ms).await,
            Transport::Http(_) if unaddressable(waybill_no) => Err(SimCarrierError::NotFound),
            Transport::Http(http) => {
                check_time(occurred_at_ms)?;
                let path = format!("/waybills/{}/events", encode_segment(waybill_no));
                let body = EmitRequest {
                    state,
                    occurred_at: occurred_at_ms,
                };
                http.send(http.request(Method::POST, &path).json(&body)).await
            }
        }
    }

    pub async fn set_faults(&self, faults: Faults) -> Result<(), SimCarrierError> {
        match &self.transport {
            Transport::InProcess(simcarrier) => {
                simcarrier.set_faults(faults);
                Ok(())
            }
            Transport::Http(http) => {
                let _: Faults = http
                    .send(http.request(Method::PUT, "/config/faults").json(&faults))
                    .await?;
                Ok(())
            }
        }
    }

    pub async fn set_webhook_url(&self, url: Option<String>) -> Result<(), SimCarrierError> {
        match &self.transport {
            Transport::InProcess(simcarrier) => {
                simcarrier.set_webhook_url(url);
                Ok(())
            }
            Transport::Http(http) => {
                let body = WebhookConfig { url };
                let _: WebhookConfig = http
                    .send(http.request(Method::PUT, "/config/webhook").json(&body))
                    .await?;
                Ok(())
            }
        }
    }

    pub async fn delivery_stats(&self) -> Result<DeliveryStats, SimCarrierError> {
        match &self.transport {
            Transport::InProcess(simcarrier) => Ok(simcarrier.delivery_stats()),
            Transport::Http(http) => http.send(http.request(Method::GET, "/deliveries/stats")).await,
        }
    }

    pub async fn delivery_attempts(&self) -> Result<Vec<DeliveryAttempt>, SimCarrierError> {
        match &self.transport {
            Transport::InProcess(simcarrier) => Ok(simcarrier.delivery_attempts()),
            Transport::Http(http) => http.send(http.request(Method::GET, "/deliveries")).await,
        }
    }

    /// Whether the simulator answers; a launcher polls this until a standalone one is up.
    pub async fn health(&self) -> Result<(), SimCarrierError> {
        match &self.transport {
            Transport::InProcess(_) => Ok(()),
            Transport::Http(http) => {
                let _: Health = http.send(http.request(Method::GET, "/health")).await?;
                Ok(())
            }
        }
    }
}

impl HttpTransport {
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base_url))
            .timeout(self.request_timeout)
    }

    async fn send<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, SimCarrierError> {
        let response = request.send().await.map_err(from_reqwest)?;
        let status = response.status();
        if status.is_success() {
            return response.json().await.map_err(from_reqwest);
        }
        if status == StatusCode::GATEWAY_TIMEOUT {
            return Err(SimCarrierError::Timeout);
        }
        let body = response.bytes().await.map_err(from_reqwest)?;
        match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(body) => Err(from_wire(body)),
            Err(_) => Err(SimCarrierError::Transport(format!(
                "HTTP {status} without a simcarrier error body"
            ))),
        }
    }

    /// `send` for a lookup, where `not_found` is an answer rather than an error.
    async fn send_lookup<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<Option<T>, SimCarrierError> {
        match self.send(request).await {
            Ok(found) => Ok(Some(found)),
            Err(SimCarrierError::NotFound) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

fn from_reqwest(error: reqwest::Error) -> SimCarrierError {
    if error.is_timeout() {
        SimCarrierError::Timeout
    } else {
        SimCarrierError::Transport(error.to_string())
    }
}

fn from_wire(body: ErrorBody) -> SimCarrierError {
    match body.error.as_str() {
        "invalid_request" => SimCarrierError::InvalidRequest(body.message),
        "reference_conflict" => SimCarrierError::ReferenceConflict,
        "not_found" => SimCarrierError::NotFound,
        "invalid_state" => SimCarrierError::InvalidState(body.message),
        "full" => SimCarrierError::Full,
        "timeout" => SimCarrierError::Timeout,
        other => SimCarrierError::Transport(format!("{other}: {}", body.message)),
    }
}

/// Waybill numbers no waybill can have and no URL path segment can carry: an empty one would name
/// another route, and URLs resolve `.` and `..` away. The client answers for them as the simulator
/// would.
fn unaddressable(waybill_no: &str) -> bool {
    matches!(waybill_no, "" | "." | "..")
}

/// Percent-encodes every byte but the unreserved ones, dots included, so that any text stays one
/// path segment and is never normalised away.
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
        assert_eq!(encode_segment("SF104739201385"), "SF104739201385");
        assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
        assert_eq!(encode_segment(".."), "%2E%2E");
    }
}
