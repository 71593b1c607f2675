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
use miaodan_domain::diagnosis::{Finding, History, Period, diagnose};
use miaodan_domain::time::shanghai::LocalDate;
use miaodan_store::{StoreError, StoredReport};
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
/// One loader per dimension: only shop totals have aggregates today (`compass_minutes`); the
/// provinces', warehouses', SKUs' and after-sales' loaders join here when their hourly compass
/// tables exist, and the rules read them already.
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
    Ok(history)
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
        id: state.ids.diagnosis_report(),
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
