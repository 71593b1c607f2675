//! Wire shapes of inventory: warehouses and stock levels.

use crate::clock::rfc3339;
use miaodan_domain::WarehouseId;
use miaodan_domain::inventory::{StockLevel, Warehouse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWarehouse {
    #[schema(schema_with = crate::http::schema::text::<60>)]
    pub name: String,
    /// 12-digit administrative division code of the warehouse's location.
    #[schema(schema_with = crate::http::schema::adcode)]
    pub adcode: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WarehouseView {
    pub id: i64,
    pub shop_id: i64,
    pub name: String,
    pub adcode: String,
    pub division: Option<String>,
    pub created_at: String,
}

impl From<&Warehouse> for WarehouseView {
    fn from(w: &Warehouse) -> Self {
        WarehouseView {
            id: w.id.get(),
            shop_id: w.shop.get(),
            name: w.name.as_str().into(),
            adcode: w.location.as_text(),
            division: w.location.division().map(|d| d.name.clone()),
            created_at: rfc3339(w.created_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockInput {
    /// Units that may be reserved from now on (reserved and sold units are kept).
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::integer::<0, 1_000_000_000>)]
    pub available: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StockView {
    pub sku_id: i64,
    pub warehouse_id: i64,
    pub available: i64,
    pub reserved: i64,
    pub sold: i64,
}

impl StockView {
    pub fn new(sku: i64, warehouse: WarehouseId, level: StockLevel) -> Self {
        StockView {
            sku_id: sku,
            warehouse_id: warehouse.get(),
            available: level.available,
            reserved: level.reserved,
            sold: level.sold,
        }
    }
}
