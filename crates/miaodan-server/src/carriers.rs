//! The carriers the platform hands parcels to. Only simulated ones exist here (`simcarrier`,
//! SF-, JD- and ZTO-like); a real carrier adapter would offer the same three things: issue a
//! waybill for a parcel, send a parcel not yet collected to another address (改址), and verify
//! the signature of the tracking events it pushes.

use miaodan_domain::Fen;
use miaodan_domain::fulfillment::CarrierId;
use miaodan_domain::geo::Adcode;
use simcarrier::{Carrier, CreateWaybill, SimCarrier, SimCarrierClient};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a tracking webhook's signature stays acceptable (replay protection).
pub const SIGNATURE_TOLERANCE_S: i64 = 300;
/// How long the platform waits for a carrier to issue a waybill.
pub const CARRIER_CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a carrier issued no waybill; either way, a retry may get one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CarrierError {
    #[error("the carrier refused to issue a waybill: {0}")]
    Refused(String),
    #[error("the carrier did not answer in time")]
    Timeout,
}

/// Why a carrier did not take a new address on a waybill.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RedirectError {
    /// The courier has collected the parcel: it goes where its waybill said. Final.
    #[error("the carrier has collected the parcel")]
    Collected,
    /// Anything else (unknown waybill, a refusal, no answer): a retry may succeed.
    #[error("the carrier did not take the new address: {0}")]
    Failed(String),
}

/// Which carrier simulator the platform talks to.
#[derive(Clone, Debug)]
pub enum CarriersConfig {
    /// `simcarrier` in this process. Its events come to this server's webhook over loopback.
    InProcess {
        seed: u64,
        time_scale: simcarrier::TimeScale,
        faults: simcarrier::Faults,
        odds: simcarrier::ScenarioOdds,
    },
    /// A `simcarrier` process at `url`, sharing the webhook `secret`.
    Remote { url: String, secret: Vec<u8> },
}

impl Default for CarriersConfig {
    /// A parcel's day compressed into minutes (a simulated minute is 50 ms: a next-day journey
    /// takes a few minutes), with some duplicate and reordered webhooks, as real carriers send.
    fn default() -> CarriersConfig {
        CarriersConfig::InProcess {
            seed: 11,
            time_scale: simcarrier::TimeScale {
                real_ms_per_sim_minute: 50,
            },
            faults: simcarrier::Faults {
                duplicate_percent: 5,
                reorder_percent: 5,
                delay_ms_max: 200,
            },
            odds: simcarrier::ScenarioOdds::default(),
        }
    }
}

impl CarriersConfig {
    /// The demo's carriers: parcels travel a simulated minute every 50 ms, one in ten stalls
    /// after pickup and one in ten has an exception on the way, so the package center has
    /// something to show within minutes.
    pub fn demo() -> CarriersConfig {
        let mut config = CarriersConfig::default();
        if let CarriersConfig::InProcess { odds, .. } = &mut config {
            odds.stall_after_pickup_percent = 10;
            odds.exception_then_delivered_percent = 10;
        }
        config
    }

    /// Sets the simulated carriers' pace: `ms` real milliseconds per simulated minute (a
    /// carrier outside this process keeps its own).
    pub fn set_pace(&mut self, ms: u64) {
        if let CarriersConfig::InProcess { time_scale, .. } = self {
            time_scale.real_ms_per_sim_minute = ms;
        }
    }

    /// Events only when a test or the operator says so (`advance`/`emit`).
    pub fn manual() -> CarriersConfig {
        CarriersConfig::InProcess {
            seed: 11,
            time_scale: simcarrier::TimeScale::MANUAL,
            faults: simcarrier::Faults::default(),
            odds: simcarrier::ScenarioOdds::default(),
        }
    }
}

pub struct Carriers {
    client: SimCarrierClient,
    secret: Vec<u8>,
    /// The in-process simulator, when that is the carrier (to point its webhooks at us, and
    /// for tests and the demo to drive parcels).
    pub simulator: Option<SimCarrier>,
}

fn carrier_of(id: CarrierId) -> Carrier {
    match id {
        CarrierId::Sf => Carrier::Sf,
        CarrierId::Jd => Carrier::Jd,
        CarrierId::Zto => Carrier::Zto,
    }
}

impl Carriers {
    pub fn new(config: &CarriersConfig) -> anyhow::Result<Carriers> {
        Ok(match config {
            CarriersConfig::InProcess {
                seed,
                time_scale,
                faults,
                odds,
            } => {
                let mut secret = vec![0u8; 32];
                rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
                let simulator = SimCarrier::new(simcarrier::Config {
                    seed: *seed,
                    secret: secret.clone(),
                    webhook_url: None,
                    time_scale: *time_scale,
                    odds: *odds,
                    faults: faults.clone(),
                });
                Carriers {
                    client: SimCarrierClient::in_process(simulator.clone()),
                    secret,
                    simulator: Some(simulator),
                }
            }
            CarriersConfig::Remote { url, secret } => Carriers {
                client: SimCarrierClient::http(url.clone(), CARRIER_CALL_TIMEOUT)
                    .map_err(|e| anyhow::anyhow!("simcarrier url: {e}"))?,
                secret: secret.clone(),
                simulator: None,
            },
        })
    }

    /// A waybill for the parcel `reference` (the same reference always gets the same one).
    pub async fn create_waybill(
        &self,
        carrier: CarrierId,
        reference: &str,
        origin: Adcode,
        destination: Adcode,
    ) -> Result<String, CarrierError> {
        let request = CreateWaybill {
            carrier: carrier_of(carrier),
            reference: reference.to_string(),
            origin_adcode: origin.as_text(),
            destination_adcode: destination.as_text(),
            scenario: None,
        };
        let call = self.client.create_waybill(request);
        match tokio::time::timeout(CARRIER_CALL_TIMEOUT, call).await {
            Ok(Ok(waybill)) => Ok(waybill.waybill_no),
            Ok(Err(error)) => {
                tracing::warn!(%error, "the carrier refused a waybill");
                Err(CarrierError::Refused(error.to_string()))
            }
            Err(_) => Err(CarrierError::Timeout),
        }
    }

    /// The carrier's price for a parcel of `weight_grams` from `origin` to `destination`: the
    /// first weight (首重) and the rest (续重), in fen.
    pub async fn quote(
        &self,
        carrier: CarrierId,
        origin: Adcode,
        destination: Adcode,
        weight_grams: u32,
    ) -> Result<(Fen, Fen), CarrierError> {
        let request = simcarrier::QuoteRequest {
            carrier: carrier_of(carrier),
            origin_adcode: origin.as_text(),
            destination_adcode: destination.as_text(),
            weight_grams: weight_grams.clamp(1, simcarrier::tariff::PARCEL_GRAMS_MAX),
        };
        let quote = match tokio::time::timeout(CARRIER_CALL_TIMEOUT, self.client.quote(&request)).await {
            Ok(Ok(quote)) => quote,
            Ok(Err(error)) => return Err(CarrierError::Refused(error.to_string())),
            Err(_) => return Err(CarrierError::Timeout),
        };
        let fen =
            |raw: i64| Fen::from_stored(raw).ok_or_else(|| CarrierError::Refused(format!("a price of {raw} fen")));
        Ok((fen(quote.first_weight_fen)?, fen(quote.additional_fen)?))
    }

    /// Sends the parcel of `waybill` to `destination` instead. The carrier answers the same
    /// redirect the same way, so a retry (after a timeout or a restart) is safe.
    pub async fn redirect(&self, waybill: &str, destination: Adcode) -> Result<(), RedirectError> {
        let destination = destination.as_text();
        let call = self.client.redirect(waybill, &destination);
        match tokio::time::timeout(CARRIER_CALL_TIMEOUT, call).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(simcarrier::SimCarrierError::InvalidState(_))) => Err(RedirectError::Collected),
            Ok(Err(error)) => Err(RedirectError::Failed(error.to_string())),
            Err(_) => Err(RedirectError::Failed("no answer in time".into())),
        }
    }

    /// Checks a tracking webhook's signature against the wall clock (transport freshness is
    /// about real time, whatever the platform's business clock says).
    /// `signature` is the raw value of the [`simcarrier::SIGNATURE_HEADER`] header, if any.
    pub fn verify(&self, signature: Option<&[u8]>, body: &[u8]) -> Result<(), &'static str> {
        let now_s = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        simcarrier::signature::verify_raw(&self.secret, signature, body, now_s, SIGNATURE_TOLERANCE_S).map_err(
            |error| match error {
                simcarrier::SignatureError::Missing => "missing_signature",
                simcarrier::SignatureError::Malformed => "malformed_signature",
                simcarrier::SignatureError::Mismatch => "bad_signature",
                simcarrier::SignatureError::Stale => "stale_signature",
            },
        )
    }
}
