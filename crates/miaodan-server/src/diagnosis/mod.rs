//! Diagnosis reports (经营诊断): loads a shop's [`History`] from the compass's aggregates (the
//! shop's own days and its category peers'), runs the pure rules of
//! `miaodan_domain::diagnosis`, and stores the report. A background job writes each shop's
//! daily report a few minutes after Shanghai midnight on the server's clock.
//!
//! **Invariant:** a shop has at most one daily report per day, whatever restarts happen: the
//! job skips a written one and the store's unique index refuses a second
//! (`diagnosis_reports_daily_once`).

use crate::app::AppState;
use miaodan_domain::Timestamp;
use miaodan_domain::catalog::Shop;
use miaodan_domain::diagnosis::{
    AfterSalesDay, Dimensions, Finding, History, Period, RegionDay, SkuDay, Tally, WarehouseDay, diagnose,
};
use miaodan_domain::geo::Adcode;
use miaodan_domain::time::shanghai::LocalDate;
use miaodan_store::{DiagnosisDimension, DiagnosisScope, DimensionDay, StoreError, StoredReport};
use std::time::Duration;
use tokio::task::JoinHandle;

/// The days a report is about (compared with the same number of days before them).
pub const REPORT_DAYS: i32 = 7;
/// Minutes after Shanghai midnight when the daily reports of the day before are due.
pub const DAILY_AT_MINUTE: i64 = 5;
/// How often the job looks at the clock (it works only when a new day is due).
const POLL_MS: u64 = 1_000;

/// Which report: the daily job's or one asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Daily,
    OnDemand,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Daily => "daily",
            Kind::OnDemand => "on_demand",
        }
    }
}

/// The shop's and its category peers' figures over `current` and the period before it.
///
/// One loader per dimension, each from the compass's aggregates: shop totals from
/// `compass_minutes`; provinces (the cities' summed, named from `geo`), warehouses (by name), SKUs
/// and after-sales by SKU and reason from the hourly breadth. Peers' SKUs and after-sales are
/// loaded too: the rules compare a SKU's refunds and a reason's share with the category's.
pub async fn history(state: &AppState, shop: &Shop, current: Period) -> Result<History, StoreError> {
    let mut history = History::new(current);
    let (first, end) = (history.baseline.first, current.end());
    history.shop.totals = state.store.diagnosis_shop_totals(shop.id, first, end).await?;
    let (peer_shops, peer_totals) = state
        .store
        .diagnosis_peer_totals(shop.category, shop.id, first, end)
        .await?;
    history.peers.totals = peer_totals;
    history.peer_shops = peer_shops;
    let own = DiagnosisScope::Shop(shop.id);
    let peers = DiagnosisScope::Peers {
        category: shop.category,
        except: shop.id,
    };
    let load = |dimension, scope| state.store.diagnosis_dimension(dimension, scope, first, end);
    use DiagnosisDimension::{AfterSales, Cities, Skus, Warehouses};
    for dimension in [Cities, Warehouses, Skus, AfterSales] {
        add_dimension(&mut history.shop, dimension, load(dimension, own).await?);
    }
    for dimension in [Skus, AfterSales] {
        add_dimension(&mut history.peers, dimension, load(dimension, peers).await?);
    }
    Ok(history)
}

/// How a finding names a SKU (the same in the SKU and the after-sales figures, which the rules
/// join on it).
fn sku_label(sku: i64) -> String {
    format!("SKU {sku}")
}

/// Adds a dimension's days to `into`, keyed by the labels findings name.
fn add_dimension(into: &mut Dimensions, dimension: DiagnosisDimension, days: Vec<DimensionDay>) {
    for DimensionDay {
        day,
        key,
        text,
        figures: f,
    } in days
    {
        match dimension {
            DiagnosisDimension::Cities => {
                let province = Adcode::from_stored(key).province().get();
                let (name, _) = crate::compass::regions::label(province);
                let added = RegionDay {
                    orders: f[0],
                    gmv_fen: f[1],
                    paid_orders: f[2],
                    paid_fen: f[3],
                };
                into.provinces.entry((name, day)).or_default().add(&added);
            }
            DiagnosisDimension::Warehouses => {
                let name = if text.is_empty() {
                    format!("warehouse {key}")
                } else {
                    text
                };
                let added = WarehouseDay {
                    dispatched: f[0],
                    shipped: f[1],
                    delivered: f[2],
                    delivered_late: f[3],
                    alerts_raised: f[4],
                    alerts_resolved: f[5],
                };
                into.warehouses.entry((name, day)).or_default().add(&added);
            }
            DiagnosisDimension::Skus => {
                let added = SkuDay {
                    orders: f[0],
                    units: f[1],
                    gmv_fen: f[2],
                    paid_units: f[3],
                    refunds: f[4],
                    refunded_fen: f[5],
                    stock_outs: f[6],
                };
                into.skus.entry((sku_label(key), day)).or_default().add(&added);
            }
            DiagnosisDimension::AfterSales => {
                let added = AfterSalesDay {
                    requested: f[0],
                    approved: f[1],
                    refunded: f[2],
                    refunded_fen: f[3],
                };
                into.after_sales
                    .entry((sku_label(key), text, day))
                    .or_default()
                    .add(&added);
            }
        }
    }
}

/// A report as diagnosed, before it is rendered for storage.
#[derive(Clone, Debug)]
pub struct Diagnosed {
    pub id: i64,
    pub shop: Shop,
    pub kind: Kind,
    pub history: History,
    pub at: Timestamp,
    pub findings: Vec<Finding>,
}

/// How a report is kept: the HTTP layer's rendering of it (the store keeps it opaque), so a
/// stored report reads back exactly as it was answered.
pub type Render = fn(&Diagnosed) -> Result<String, String>;

/// Diagnoses `shop` over `period` and stores the report; `None` when it is a daily report
/// that was written already.
pub async fn write(
    state: &AppState,
    shop: &Shop,
    period: Period,
    kind: Kind,
    render: Render,
) -> Result<Option<Diagnosed>, StoreError> {
    let history = history(state, shop, period).await?;
    let diagnosed = Diagnosed {
        id: state.ids.diagnosis_report().await?,
        shop: shop.clone(),
        kind,
        findings: diagnose(&history),
        history,
        at: state.clock.now(),
    };
    let stored = StoredReport {
        id: diagnosed.id,
        shop: shop.id,
        kind: kind.as_str().into(),
        period,
        created_at: diagnosed.at,
        body: render(&diagnosed).map_err(StoreError::Corrupt)?,
    };
    Ok(state.store.save_diagnosis_report(&stored).await?.then_some(diagnosed))
}

/// The day whose daily reports are due at `now`: the day before, once it is
/// [`DAILY_AT_MINUTE`] past midnight in Shanghai.
pub fn due_day(now: Timestamp) -> LocalDate {
    LocalDate::of(now.plus_seconds(-DAILY_AT_MINUTE * 60)).plus_days(-1)
}

/// The daily report's period: the [`REPORT_DAYS`] days ending with `day`.
pub fn daily_period(day: LocalDate) -> Period {
    Period::ending_before(day.plus_days(1), REPORT_DAYS)
}

/// Writes every shop's daily report of `day` that is not written yet.
pub async fn write_daily(state: &AppState, day: LocalDate, render: Render) -> Result<usize, StoreError> {
    let mut written = 0;
    for shop in state.store.shops().await? {
        if state.store.daily_diagnosis_written(shop.id, day).await? {
            continue;
        }
        if write(state, &shop, daily_period(day), Kind::Daily, render)
            .await?
            .is_some()
        {
            written += 1;
        }
    }
    Ok(written)
}

/// The daily job: after [`DAILY_AT_MINUTE`] past each Shanghai midnight on the server's clock,
/// every shop's report of the 7 days before; a restart writes what is missing, nothing twice.
pub fn spawn(state: AppState, render: Render) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(POLL_MS));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut done: Option<LocalDate> = None;
        loop {
            every.tick().await;
            let day = due_day(state.clock.now());
            if done == Some(day) {
                continue;
            }
            match write_daily(&state, day, render).await {
                Ok(written) => {
                    done = Some(day);
                    metrics::counter!("miaodan_diagnosis_reports_total", "kind" => "daily").increment(written as u64);
                }
                Err(error) => tracing::warn!(%error, "the daily diagnosis could not be written; retrying"),
            }
        }
    })
}
