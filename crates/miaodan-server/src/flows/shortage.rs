//! A warehouse's stock shortage, as reported by the merchant (a count, damage, a lost
//! pallet): the shop's shard lets unsold units absorb it, re-dispatches the paid orders not
//! yet shipped from there to another warehouse, and tells the package center — all in one
//! command and one commit (`ShardState`'s `report_shortage`). The flow is here so that every
//! caller, not only HTTP, reports a shortage the same way.

use crate::app::AppState;
use crate::sequencer::{Recorder, ShardError};
pub use miaodan_domain::shard::ShortageHandled;
use miaodan_domain::shard::{Rejection, ReportShortage};
use miaodan_domain::{ShopId, SkuId, WarehouseId};

/// Units of a SKU a shop's warehouse found missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shortage {
    pub shop: ShopId,
    pub warehouse: WarehouseId,
    pub sku: SkuId,
    pub missing_units: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ShortageError {
    /// More missing units than the warehouse holds and has not handed to a carrier, or none.
    #[error("the shortage is not within what the warehouse holds")]
    InvalidShortage,
    #[error("refused: {}", .0.code())]
    Refused(Rejection),
    #[error(transparent)]
    Shard(#[from] ShardError),
}

/// Reports the shortage to the shop's shard. The `recorder`, if any, stores the response in
/// the shard's batch.
pub async fn report(
    state: &AppState,
    shortage: Shortage,
    recorder: Option<Recorder>,
) -> Result<ShortageHandled, ShortageError> {
    let command = ReportShortage {
        shop: shortage.shop,
        warehouse: shortage.warehouse,
        sku: shortage.sku,
        missing: shortage.missing_units,
    };
    match state.shards.ask(shortage.shop, command, recorder).await? {
        Ok(handled) => Ok(handled),
        Err(Rejection::InvalidStock) => Err(ShortageError::InvalidShortage),
        Err(rejection) => Err(ShortageError::Refused(rejection)),
    }
}
