//! The compass's breadth: what a run of events adds per region, SKU, warehouse and after-sales
//! kind and reason, each hour (see `miaodan_store::CompassDimensions`). Each dimension folds in
//! its own module; this one loads the memory they need, hands every event to each, and leaves
//! them the hour the event was committed in.
//!
//! **Invariant:** folding is a pure function of the events and the memory read before them, so
//! a pass that fails and runs again computes the same figures (and the shared commit with the
//! cursor keeps them from counting twice).

use super::{after_sales, fulfillment, regions, skus};
use miaodan_store::{CompassDimensions, CompassMemory, MemoryKeys, Store, StoreError, StoredEvent};
use serde::de::DeserializeOwned;

const HOUR_MS: i64 = 3_600_000;

/// One event as the dimensions read it.
pub(super) struct Folding<'a> {
    pub event: &'a StoredEvent,
    /// The start of the hour it was committed in (UTC epoch ms).
    pub hour: i64,
}

impl Folding<'_> {
    /// The event's body as `T`, if it reads as one.
    pub fn body<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_str(&self.event.body).ok()
    }

    pub fn action(&self) -> &str {
        self.event.topic.split_once('.').map_or("", |(_, action)| action)
    }

    pub fn family(&self) -> &str {
        self.event.topic.split_once('.').map_or("", |(family, _)| family)
    }
}

/// Reads the memory a run of events needs and folds them.
pub async fn fold_from(store: &Store, events: &[StoredEvent]) -> Result<CompassDimensions, StoreError> {
    let memory = store.compass_memory(&keys(events)).await?;
    Ok(fold(events, memory))
}

/// What a run of events adds, given what the reader remembered before it.
pub fn fold(events: &[StoredEvent], memory: CompassMemory) -> CompassDimensions {
    let mut dimensions = CompassDimensions {
        memory,
        ..CompassDimensions::default()
    };
    for event in events {
        let at = event.at.unix_ms();
        let folding = Folding {
            event,
            hour: at - at.rem_euclid(HOUR_MS),
        };
        match folding.family() {
            "order" => {
                regions::fold(&folding, &mut dimensions);
                skus::fold_order(&folding, &mut dimensions);
                fulfillment::fold_dispatch(&folding, &mut dimensions);
            }
            "stock" => skus::fold_stock(&folding, &mut dimensions),
            "shipment" => fulfillment::fold_shipment(&folding, &mut dimensions),
            "alert" => fulfillment::fold_alert(&folding, &mut dimensions),
            "after_sales" => after_sales::fold(&folding, &mut dimensions),
            _ => {}
        }
    }
    dimensions
}

/// Which objects the events are about, for the memory to read.
fn keys(events: &[StoredEvent]) -> MemoryKeys {
    let mut keys = MemoryKeys::default();
    for event in events {
        let folding = Folding { event, hour: 0 };
        match folding.family() {
            "order" => keys.skus.extend(skus::skus_of_order(&folding)),
            "stock" => {
                keys.stock_skus.push(event.subject);
                keys.skus.push(event.subject);
            }
            "shipment" | "alert" => keys.shipments.push(event.subject),
            "after_sales" => {
                keys.requests.push(event.subject);
                keys.skus.extend(after_sales::first_sku(&folding));
            }
            _ => {}
        }
    }
    for list in [
        &mut keys.stock_skus,
        &mut keys.shipments,
        &mut keys.requests,
        &mut keys.skus,
    ] {
        list.sort_unstable();
        list.dedup();
    }
    keys
}

#[cfg(test)]
pub(super) mod test_support {
    use miaodan_domain::{ShopId, Timestamp};
    use miaodan_store::StoredEvent;
    use serde_json::Value;

    pub const SHOP: i64 = 7;
    /// 2026-12-05T02:00:00Z, the start of an hour.
    pub const HOUR: i64 = 1_796_436_000_000;

    /// An event of shop 7, `minutes` after `HOUR`.
    pub fn event(seq: i64, minutes: i64, topic: &str, subject: i64, body: Value) -> StoredEvent {
        StoredEvent {
            shard: 0,
            seq,
            at: Timestamp::from_unix_ms(HOUR + minutes * 60_000),
            shop: ShopId::new(SHOP).expect("positive"),
            topic: topic.into(),
            subject,
            body: body.to_string(),
        }
    }

    pub fn shop() -> ShopId {
        ShopId::new(SHOP).expect("positive")
    }
}
