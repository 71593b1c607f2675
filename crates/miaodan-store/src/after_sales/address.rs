//! A change of address inside a request's `body` (`address_change`, absent for other kinds
//! and in rows written before addresses could change): both addresses as the orders table
//! keeps them (adcode as an integer, the detail as text), instants in ms, and what came of it
//! tagged by `how`.

use super::{REQUEST, corrupt};
use crate::StoreError;
use crate::json::id;
use miaodan_domain::after_sales::address::{AddressChange, AddressOutcome, AddressRefusal};
use miaodan_domain::catalog::Text;
use miaodan_domain::geo::Adcode;
use miaodan_domain::logistics::shipment::parse_waybill;
use miaodan_domain::orders::Address;
use miaodan_domain::{Timestamp, WarehouseId};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct AddressChangeV1 {
    from: AddressV1,
    to: AddressV1,
    promised_by_before: Option<i64>,
    outcome: Option<AddressOutcomeV1>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct AddressV1 {
    adcode: i64,
    detail: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "how", rename_all = "snake_case")]
enum AddressOutcomeV1 {
    Redispatched {
        warehouses_before: Vec<i64>,
        warehouses_after: Vec<i64>,
        promised_by: Option<i64>,
    },
    Redirected {
        waybills: Vec<String>,
        promised_by: Option<i64>,
    },
    NotCarriedOut {
        why: String,
    },
}

impl From<&Address> for AddressV1 {
    fn from(a: &Address) -> AddressV1 {
        AddressV1 {
            adcode: a.adcode.get(),
            detail: a.detail.as_str().into(),
        }
    }
}

impl From<AddressV1> for Address {
    fn from(a: AddressV1) -> Address {
        Address {
            adcode: Adcode::from_stored(a.adcode),
            detail: Text::from_stored(a.detail),
        }
    }
}

fn warehouses(ids: &[WarehouseId]) -> Vec<i64> {
    ids.iter().map(|w| w.get()).collect()
}

fn warehouse_ids(raw: Vec<i64>) -> Result<Vec<WarehouseId>, StoreError> {
    raw.into_iter().map(|w| id(w, WarehouseId::new, REQUEST)).collect()
}

impl From<&AddressChange> for AddressChangeV1 {
    fn from(c: &AddressChange) -> AddressChangeV1 {
        let ms = |at: Option<Timestamp>| at.map(Timestamp::unix_ms);
        AddressChangeV1 {
            from: AddressV1::from(&c.from),
            to: AddressV1::from(&c.to),
            promised_by_before: ms(c.promised_by_before),
            outcome: c.outcome.as_ref().map(|o| match o {
                AddressOutcome::Redispatched {
                    warehouses_before,
                    warehouses_after,
                    promised_by,
                } => AddressOutcomeV1::Redispatched {
                    warehouses_before: warehouses(warehouses_before),
                    warehouses_after: warehouses(warehouses_after),
                    promised_by: ms(*promised_by),
                },
                AddressOutcome::Redirected { waybills, promised_by } => AddressOutcomeV1::Redirected {
                    waybills: waybills.iter().map(|w| w.as_str().into()).collect(),
                    promised_by: ms(*promised_by),
                },
                AddressOutcome::NotCarriedOut(why) => AddressOutcomeV1::NotCarriedOut { why: why.code().into() },
            }),
        }
    }
}

impl TryFrom<AddressChangeV1> for AddressChange {
    type Error = StoreError;
    fn try_from(c: AddressChangeV1) -> Result<AddressChange, StoreError> {
        let ms = |at: Option<i64>| at.map(Timestamp::from_unix_ms);
        let outcome = match c.outcome {
            None => None,
            Some(AddressOutcomeV1::Redispatched {
                warehouses_before,
                warehouses_after,
                promised_by,
            }) => Some(AddressOutcome::Redispatched {
                warehouses_before: warehouse_ids(warehouses_before)?,
                warehouses_after: warehouse_ids(warehouses_after)?,
                promised_by: ms(promised_by),
            }),
            Some(AddressOutcomeV1::Redirected { waybills, promised_by }) => Some(AddressOutcome::Redirected {
                waybills: waybills
                    .iter()
                    .map(|w| parse_waybill(w).ok_or_else(|| corrupt("waybill", w)))
                    .collect::<Result<_, _>>()?,
                promised_by: ms(promised_by),
            }),
            Some(AddressOutcomeV1::NotCarriedOut { why }) => Some(AddressOutcome::NotCarriedOut(
                AddressRefusal::ALL
                    .into_iter()
                    .find(|r| r.code() == why)
                    .ok_or_else(|| corrupt("address outcome", &why))?,
            )),
        };
        Ok(AddressChange {
            from: c.from.into(),
            to: c.to.into(),
            promised_by_before: ms(c.promised_by_before),
            outcome,
        })
    }
}
