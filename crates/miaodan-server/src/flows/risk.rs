//! What risk is told about a buyer's request beyond what the request says of its sender (the
//! edge's `Client`): when the account was opened, the buyer's history, the credential it pays
//! with — read here, where every core is, so the shard that decides only scores.
//!
//! A payment attempt and an after-sales request go to their shard with a [`Screening`]; a tap
//! and a checkout carry the same signals in their own commands (`http::risk::signals_of`).

use crate::app::{AppState, RiskMode};
use miaodan_domain::BuyerId;
use miaodan_domain::risk::{BuyerHistory, ClientSignals, Screening, fingerprint};
use miaodan_store::StoreError;

/// The fingerprint tag of a payment credential (see `http::risk` for the others).
pub const CREDENTIAL_TAG: u8 = 3;

/// A payment credential's fingerprint: risk keeps fingerprints, never the credential.
pub fn credential_fingerprint(credential: &str) -> u64 {
    fingerprint(CREDENTIAL_TAG, credential.as_bytes())
}

/// The screening of a buyer's payment attempt or after-sales request: `client` (what the
/// request said of its sender), the account's opening and history (`history`, or read here),
/// and `credential` when it pays. `None` while risk is off (nothing is read then). Its
/// decision id is drawn from the order ids, so it never collides with a tap's or a checkout's.
pub async fn screening(
    state: &AppState,
    buyer: BuyerId,
    client: ClientSignals,
    credential: Option<u64>,
    history: Option<BuyerHistory>,
) -> Result<Option<Box<Screening>>, StoreError> {
    if state.config.risk == RiskMode::Off {
        return Ok(None);
    }
    let history = match history {
        Some(history) => history,
        None => state.store.buyer_history(buyer, state.clock.now()).await?,
    };
    let account_opened_at = state.directory.buyer_opened_at(&state.store, buyer).await?;
    let decision = state.ids.order().await?;
    let client = ClientSignals {
        account_opened_at,
        history: Some(history),
        credential: credential.or(client.credential),
        ..client
    };
    Ok(Some(Box::new(Screening { decision, client })))
}
