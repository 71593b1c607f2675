//! The compass's figures per flash sale: what the reader folds from each run of events into
//! `compass_flash_sale_minutes`, `compass_flash_sale_provinces` and `compass_flash_sales` (in
//! the transaction that moves its cursor), and what it keeps in memory for the live views —
//! the last seconds' taps per sale, and a signal that the figures changed.
//!
//! Taps come from the shards' `flash_sale.tapped` events (counts since the shard last
//! published, summed here); orders, units, GMV and provinces from `order.placed` of a flash
//! order; payments from `order.paid`; unpaid orders that ended from `order.cancelled` and
//! `order.expired` without a payment; the sell-out from the first `flash_sale.saved` with no
//! units left while the sale still ran.

use miaodan_domain::Timestamp;
use miaodan_domain::geo::Adcode;
use miaodan_store::{FlashSaleFigures, FlashSaleFold, OrderBodyV1, ProvinceFigures, StoredEvent};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use tokio::sync::watch;

const MINUTE_MS: i64 = 60_000;
/// How many seconds of taps the live views see.
pub const RECENT_TAPS_SECONDS: i64 = 10;

/// The body of a `flash_sale.tapped` event.
#[derive(Deserialize)]
struct TappedBody {
    flash_sale: i64,
    taps: i64,
    ordered: i64,
    sold_out: i64,
    limit_reached: i64,
    other: i64,
}

/// The body of a `flash_sale.saved` event, as far as the compass reads it.
#[derive(Deserialize)]
struct SavedBody {
    flash_sale: i64,
    remaining: i64,
    closed: bool,
}

/// What a run of events adds to the sales' figures.
pub fn fold(events: &[StoredEvent]) -> FlashSaleFold {
    let mut fold = FlashSaleFold::default();
    for event in events {
        let minute = event.at.unix_ms() - event.at.unix_ms().rem_euclid(MINUTE_MS);
        let mut add = |sale: i64, figures: FlashSaleFigures| {
            fold.minutes
                .entry((event.shop, sale, minute))
                .or_default()
                .add(&figures);
        };
        match event.topic.as_str() {
            "flash_sale.tapped" => {
                let Ok(body) = serde_json::from_str::<TappedBody>(&event.body) else {
                    continue;
                };
                add(body.flash_sale, tapped(&body));
            }
            "flash_sale.saved" => {
                let Ok(body) = serde_json::from_str::<SavedBody>(&event.body) else {
                    continue;
                };
                if body.remaining == 0 && !body.closed {
                    fold.sold_out
                        .entry((event.shop, body.flash_sale))
                        .or_insert(event.at.unix_ms());
                }
            }
            "order.placed" | "order.paid" | "order.cancelled" | "order.expired" => {
                let Ok(order) = serde_json::from_str::<OrderBodyV1>(&event.body) else {
                    continue;
                };
                let Some(sale) = order.flash_sale else { continue };
                let Some(figures) = order_figures(&event.topic, &order) else {
                    continue;
                };
                add(sale, figures);
                if event.topic == "order.placed" {
                    let province = Adcode::from_stored(order.adcode).province().get();
                    let placed = ProvinceFigures {
                        orders: 1,
                        units: figures.units,
                        gmv_fen: figures.gmv_fen,
                    };
                    fold.provinces
                        .entry((event.shop, sale, province))
                        .or_default()
                        .add(&placed);
                }
            }
            _ => {}
        }
    }
    fold
}

fn tapped(body: &TappedBody) -> FlashSaleFigures {
    FlashSaleFigures {
        taps: body.taps,
        ordered: body.ordered,
        sold_out: body.sold_out,
        limit_reached: body.limit_reached,
        refused_other: body.other,
        ..FlashSaleFigures::default()
    }
}

/// What an order's event adds to its sale, if anything.
fn order_figures(topic: &str, order: &OrderBodyV1) -> Option<FlashSaleFigures> {
    let figures = match topic {
        "order.placed" => FlashSaleFigures {
            orders: 1,
            units: order.lines.iter().map(|l| l.quantity).sum(),
            gmv_fen: order.total,
            ..FlashSaleFigures::default()
        },
        "order.paid" => FlashSaleFigures {
            paid_orders: 1,
            paid_fen: order.total,
            ..FlashSaleFigures::default()
        },
        // A paid order cancelled later (after-sales) was counted paid, and stays so.
        _ if order.paid_at.is_none() => FlashSaleFigures {
            unpaid_closed: 1,
            ..FlashSaleFigures::default()
        },
        _ => return None,
    };
    Some(figures)
}

/// What the live views read besides the tables: the taps of the last seconds per sale, and
/// a signal the reader raises after each pass that folded events.
pub struct Live {
    /// Passes of the reader that changed the figures, counted: a stream waits for a change.
    changed: watch::Sender<u64>,
    /// Per sale, taps per second (Unix seconds) over the last [`RECENT_TAPS_SECONDS`].
    recent_taps: Mutex<BTreeMap<i64, BTreeMap<i64, i64>>>,
}

impl Default for Live {
    fn default() -> Live {
        Live {
            changed: watch::Sender::new(0),
            recent_taps: Mutex::new(BTreeMap::new()),
        }
    }
}

impl Live {
    /// A receiver that wakes after every pass that changed the figures.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// After a pass's events were recorded: notes their taps and tells the streams.
    pub fn record(&self, events: &[StoredEvent]) {
        let mut recent = self.recent_taps.lock().unwrap_or_else(|p| p.into_inner());
        for event in events.iter().filter(|e| e.topic == "flash_sale.tapped") {
            let Ok(body) = serde_json::from_str::<TappedBody>(&event.body) else {
                continue;
            };
            let second = event.at.unix_ms().div_euclid(1000);
            *recent.entry(body.flash_sale).or_default().entry(second).or_default() += body.taps;
        }
        // Bounded by the sales tapped in the last seconds: older seconds and idle sales go.
        let newest = events.last().map_or(i64::MIN, |e| e.at.unix_ms().div_euclid(1000));
        recent.retain(|_, seconds| {
            seconds.retain(|second, _| *second > newest - RECENT_TAPS_SECONDS * 2);
            !seconds.is_empty()
        });
    }

    /// Tells the streams that the figures changed.
    pub fn changed(&self) {
        self.changed.send_modify(|passes| *passes += 1);
    }

    /// Sale `sale`'s taps in each of the [`RECENT_TAPS_SECONDS`] whole seconds before `now`,
    /// oldest first.
    pub fn taps_per_second(&self, sale: i64, now: Timestamp) -> Vec<(i64, i64)> {
        let recent = self.recent_taps.lock().unwrap_or_else(|p| p.into_inner());
        let current = now.unix_ms().div_euclid(1000);
        let seconds = recent.get(&sale);
        (current - RECENT_TAPS_SECONDS..current)
            .map(|second| {
                let taps = seconds.and_then(|s| s.get(&second)).copied().unwrap_or(0);
                (second, taps)
            })
            .collect()
    }
}
