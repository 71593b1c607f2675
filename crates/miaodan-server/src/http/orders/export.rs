//! The order list as a CSV file (`GET /v1/orders/export.csv`): the list's filters, every
//! matching order newest first, streamed a page at a time so an export never holds more than
//! one page in memory.
//!
//! The file opens correctly in Excel: UTF-8 with a byte-order mark (without it Excel reads
//! Chinese as the legacy code page), a header row, fields quoted by the `csv` crate where a
//! comma, quote or line break needs it. An export holds at most [`EXPORT_ROWS_MAX`] orders;
//! when more match it is refused before the first byte (409 `export_too_large`), so a file is
//! never silently cut short.

use super::OrderQuery;
use crate::app::AppState;
use crate::auth::Principal;
use crate::http::extract::QueryParams;
use crate::http::fulfillment::shanghai;
use crate::http::problem::ApiError;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use miaodan_domain::geo::Adcode;
use miaodan_domain::orders::Order;
use miaodan_store::records::OrderFilter;

/// The most orders one export holds.
pub const EXPORT_ROWS_MAX: i64 = 100_000;
/// Orders read (and written out) per round trip to the store.
const EXPORT_PAGE_ROWS: i64 = 500;
/// What makes Excel read the file as UTF-8.
const UTF8_BOM: &[u8] = "\u{feff}".as_bytes();
const HEADER: [&str; 13] = [
    "order_id",
    "state",
    "placed_at (Asia/Shanghai)",
    "paid_at (Asia/Shanghai)",
    "buyer_id",
    "items (SKU×qty)",
    "total_yuan",
    "province",
    "city",
    "address",
    "flash_sale_id",
    "promised_by (Asia/Shanghai)",
    "shop_id",
];

/// Export the orders a list with these filters shows, as CSV (UTF-8 with a byte-order mark,
/// a header row, one row per order, newest first; times in Shanghai wall-clock time, totals in
/// yuan). At most 100 000 orders: when more match the export is refused (409
/// `export_too_large`); narrow it by `created_from`/`created_to`.
#[utoipa::path(get, path = "/v1/orders/export.csv", tag = "orders", params(OrderQuery),
    responses((status = 200, content_type = "text/csv; charset=utf-8", body = String,
            description = "The orders as CSV, with `Content-Disposition: attachment`"),
        (status = 400, body = crate::http::problem::Problem), (status = 409, body = crate::http::problem::Problem),
        (status = 422, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
pub async fn export_orders(
    State(state): State<AppState>,
    principal: Principal,
    QueryParams(query): QueryParams<OrderQuery>,
) -> Result<Response, ApiError> {
    let filter = super::tenancy(query.filter()?, principal);
    if let Some(filter) = &filter
        && state.store.orders_exceed(filter, EXPORT_ROWS_MAX).await?
    {
        let detail = format!(
            "more than {} orders match; narrow the export, e.g. by created_from and created_to",
            crate::http::problem::grouped(EXPORT_ROWS_MAX)
        );
        return Err(ApiError::new(StatusCode::CONFLICT, "export_too_large", detail));
    }
    let name = format!("orders-{}.csv", shanghai(state.clock.now()).replace([' ', ':'], "-"));
    let pages = futures::stream::unfold(Export::new(state, filter), Export::next_chunk);
    let headers = [
        (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
        (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
    ];
    Ok((headers, Body::from_stream(pages)).into_response())
}

/// Where an export is: the filter with the position after the last order written.
struct Export {
    state: AppState,
    /// `None` once every page is written (or nothing could match).
    filter: Option<OrderFilter>,
    header_written: bool,
}

impl Export {
    fn new(state: AppState, filter: Option<OrderFilter>) -> Export {
        Export {
            state,
            filter,
            header_written: false,
        }
    }

    /// The next chunk of the file: the header first, then a page of rows at a time. A store
    /// error ends the stream with an error, which aborts the response: the client sees a
    /// broken download, never a file that looks complete.
    async fn next_chunk(mut self) -> Option<(Result<Bytes, std::io::Error>, Export)> {
        if !self.header_written {
            self.header_written = true;
            let mut chunk = UTF8_BOM.to_vec();
            chunk.extend(records([HEADER.map(String::from).to_vec()]));
            return Some((Ok(Bytes::from(chunk)), self));
        }
        let mut filter = self.filter.take()?;
        filter.limit = EXPORT_PAGE_ROWS;
        let orders = match self.state.store.orders(&filter).await {
            Ok(orders) => orders,
            Err(error) => {
                tracing::error!(%error, "an order export failed mid-way");
                return Some((Err(std::io::Error::other(error)), self));
            }
        };
        let chunk = records(orders.iter().map(row));
        if let Some(last) = orders.last()
            && orders.len() as i64 == EXPORT_PAGE_ROWS
        {
            filter.after = Some((last.created_at, last.id));
            self.filter = Some(filter);
        }
        if chunk.is_empty() {
            return None;
        }
        Some((Ok(Bytes::from(chunk)), self))
    }
}

/// Records, quoted as CSV needs, as bytes.
fn records(rows: impl IntoIterator<Item = Vec<String>>) -> Vec<u8> {
    let mut csv = csv::Writer::from_writer(Vec::new());
    for fields in rows {
        // Writing to memory fails only on a record of another length than the first, and
        // every record here is as long as the header.
        let _ = csv.write_record(&fields);
    }
    csv.into_inner().unwrap_or_default()
}

fn row(order: &Order) -> Vec<String> {
    let items: Vec<String> = order
        .lines
        .iter()
        .map(|l| format!("{}×{}", l.sku, l.quantity.get()))
        .collect();
    let name = |code: Adcode| code.division().map(|d| d.name.clone()).unwrap_or_default();
    let total = order.total.get();
    vec![
        order.id.to_string(),
        order.state.as_str().to_string(),
        shanghai(order.created_at),
        order.paid_at.map(shanghai).unwrap_or_default(),
        order.buyer.to_string(),
        items.join("; "),
        format!("{}.{:02}", total / 100, total % 100),
        name(order.address.adcode.province()),
        name(order.address.adcode.city()),
        order.address.detail.as_str().to_string(),
        order.flash_sale.map(|s| s.get().to_string()).unwrap_or_default(),
        order
            .promise
            .as_ref()
            .map(|p| shanghai(p.promised_by))
            .unwrap_or_default(),
        order.shop.to_string(),
    ]
}
