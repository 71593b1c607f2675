//! `GET /v1/compass/series`: a shop's orders, GMV, paid conversion, cancellations, expiries and
//! refunds per minute, hour or Shanghai day, from the compass's figures (see `crate::compass`),
//! never from the orders tables. A merchant reads their shop's; an operator every shop's summed,
//! or one shop's.

use super::problem::{ApiError, Problem};
use super::validate;
use crate::app::AppState;
use crate::auth::Principal;
use crate::clock::{parse_rfc3339, rfc3339};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use miaodan_domain::{ShopId, Timestamp};
use miaodan_store::CompassFigures;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The most buckets one answer holds (a day by the minute is 1 440; a year by the day 366).
pub const BUCKETS_MAX: i64 = 2_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(series))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SeriesQuery {
    /// The first instant counted (RFC 3339).
    #[param(schema_with = crate::http::schema::instant)]
    pub from: String,
    /// The instant after the last one counted (RFC 3339), after `from`.
    #[param(schema_with = crate::http::schema::instant)]
    pub to: String,
    /// `minute`, `hour` or `day` (days begin at midnight in Shanghai). At most 2 000 buckets.
    #[param(schema_with = crate::http::schema::compass_granularity)]
    pub granularity: String,
    /// Operators only: one shop's figures (else every shop's, summed).
    #[param(schema_with = crate::http::schema::id)]
    pub shop_id: Option<i64>,
}

/// What happened in one bucket (or in the whole range, for `totals`).
#[derive(Debug, Serialize, ToSchema, PartialEq)]
pub struct FiguresView {
    /// Orders placed, their units and value (GMV).
    pub orders: i64,
    pub units: i64,
    pub gmv_fen: i64,
    pub paid_orders: i64,
    pub paid_fen: i64,
    /// Paid orders per placed order, in basis points (0 when none was placed).
    pub paid_conversion_bps: i64,
    /// Paid value per paid order (0 when none was paid).
    pub average_order_fen: i64,
    pub cancelled_orders: i64,
    /// Unpaid orders cancelled by the payment timeout.
    pub expired_orders: i64,
    /// Refunds the payment provider settled, and their amount.
    pub refunds: i64,
    pub refunded_fen: i64,
}

impl From<&CompassFigures> for FiguresView {
    fn from(f: &CompassFigures) -> FiguresView {
        FiguresView {
            orders: f.orders,
            units: f.units,
            gmv_fen: f.gmv_fen,
            paid_orders: f.paid_orders,
            paid_fen: f.paid_fen,
            paid_conversion_bps: (f.paid_orders * 10_000).checked_div(f.orders).unwrap_or(0),
            average_order_fen: f.paid_fen.checked_div(f.paid_orders).unwrap_or(0),
            cancelled_orders: f.cancelled_orders,
            expired_orders: f.expired_orders,
            refunds: f.refunds,
            refunded_fen: f.refunded_fen,
        }
    }
}

#[derive(Debug, Serialize, ToSchema, PartialEq)]
pub struct BucketView {
    /// Where the bucket begins (RFC 3339, UTC).
    pub start: String,
    #[serde(flatten)]
    pub figures: FiguresView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesView {
    pub granularity: String,
    pub from: String,
    pub to: String,
    /// Buckets with something in them, oldest first.
    pub buckets: Vec<BucketView>,
    pub totals: FiguresView,
}

/// Figures per minute, hour or day over a range.
#[utoipa::path(get, path = "/v1/compass/series", tag = "compass", params(SeriesQuery),
    responses((status = 200, body = SeriesView), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn series(
    State(state): State<AppState>,
    principal: Principal,
    super::extract::QueryParams(query): super::extract::QueryParams<SeriesQuery>,
) -> Result<Json<SeriesView>, ApiError> {
    let shop = shop_of(principal, query.shop_id)?;
    let (from, to, bucket_ms) = range(&query)?;
    let rows = state.store.compass_series(shop, from, to, bucket_ms).await?;
    let mut totals = CompassFigures::default();
    let buckets = rows
        .iter()
        .map(|(start, figures)| {
            totals.add(figures);
            BucketView {
                start: rfc3339(*start),
                figures: figures.into(),
            }
        })
        .collect();
    Ok(Json(SeriesView {
        granularity: query.granularity,
        from: rfc3339(from),
        to: rfc3339(to),
        buckets,
        totals: (&totals).into(),
    }))
}

pub(crate) fn shop_of(principal: Principal, asked: Option<i64>) -> Result<Option<ShopId>, ApiError> {
    let asked = asked.map(|raw| validate::positive_id(raw, "shop_id")).transpose()?;
    let asked = asked.and_then(ShopId::new);
    match principal {
        Principal::Admin => Ok(asked),
        Principal::Merchant(shop) if asked.is_none_or(|a| a == shop) => Ok(Some(shop)),
        Principal::Merchant(_) => Err(ApiError::not_found("shop")),
        Principal::Buyer(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the compass is for merchants and operators",
        )),
    }
}

/// The range and the bucket's length; refused when backwards or too many buckets.
fn range(query: &SeriesQuery) -> Result<(Timestamp, Timestamp, i64), ApiError> {
    let (from, to) = instants(&query.from, &query.to)?;
    let bucket_ms = match query.granularity.as_str() {
        "minute" => 60_000,
        "hour" => 3_600_000,
        "day" => 86_400_000,
        _ => {
            return Err(ApiError::invalid(
                "invalid_field",
                "granularity",
                "granularity is minute, hour or day",
            ));
        }
    };
    if (to.unix_ms() - from.unix_ms()) / bucket_ms > BUCKETS_MAX {
        return Err(ApiError::invalid(
            "invalid_field",
            "granularity",
            format!("at most {BUCKETS_MAX} buckets: a longer range takes a larger granularity"),
        ));
    }
    Ok((from, to, bucket_ms))
}

/// `from` and `to` as instants, `to` after `from`.
pub(super) fn instants(from: &str, to: &str) -> Result<(Timestamp, Timestamp), ApiError> {
    let instant = |raw: &str, field: &str| {
        parse_rfc3339(raw).ok_or_else(|| ApiError::invalid("invalid_field", field, "an RFC 3339 instant"))
    };
    let (from, to) = (instant(from, "from")?, instant(to, "to")?);
    if to <= from {
        return Err(ApiError::invalid("invalid_field", "to", "`to` comes after `from`"));
    }
    Ok((from, to))
}
