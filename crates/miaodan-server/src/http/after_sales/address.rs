//! A change of delivery address (改址) on the wire: the new address in a request to open one
//! (checked as checkout checks an address), the change in a request's view, and its refusals,
//! each said in English and Chinese.

use crate::clock::rfc3339;
use crate::flows::after_sales::explain;
use crate::http::dto::{AddressInput, AddressView};
use crate::http::problem::{ApiError, Explanation};
use crate::http::validate;
use axum::http::StatusCode;
use miaodan_domain::after_sales::RequestKind;
use miaodan_domain::after_sales::address::{AddressChange, AddressOutcome, AddressRefusal};
use miaodan_domain::orders::Address;
use serde::Serialize;
use utoipa::ToSchema;

/// The new address of an ask: required for a change of address, refused for any other kind.
pub(super) fn parse_new_address(kind: RequestKind, input: Option<&AddressInput>) -> Result<Option<Address>, ApiError> {
    match (kind, input) {
        (RequestKind::ChangeAddress, Some(input)) => Ok(Some(validate::address(input, "address")?)),
        (RequestKind::ChangeAddress, None) => Err(ApiError::invalid(
            "invalid_field",
            "address",
            "a change of address names the new address",
        )),
        (_, Some(_)) => Err(ApiError::invalid(
            "invalid_field",
            "address",
            "only a change_address request takes an address",
        )),
        (_, None) => Ok(None),
    }
}

/// How a refusal of the core is answered: 409 (the order's state forbids it), except a
/// missing address, which the document states (422).
pub(super) fn refusal(refusal: AddressRefusal) -> ApiError {
    let (en, zh) = explain::address_refusal(refusal);
    let detail = format!("{en} {zh}");
    match refusal {
        AddressRefusal::Missing => ApiError::invalid(refusal.code(), "address", detail),
        _ => ApiError::new(StatusCode::CONFLICT, refusal.code(), detail),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AddressChangeView {
    /// The order's address before the change.
    pub from: AddressView,
    /// The address asked for.
    pub to: AddressView,
    /// The order's promise before the change (`null` for an order sold without one).
    pub promised_by_before: Option<String>,
    /// What came of it: `redispatched` (no parcel had a waybill: the order was dispatched again
    /// for the new address), `redirected` (the carriers took the new address on their
    /// waybills), `not_carried_out` (approved, but it could no longer be done: see `why`);
    /// `null` until it is carried out (an approved request waits for the carriers).
    pub outcome: Option<String>,
    /// The promise after the change.
    pub promised_by: Option<String>,
    /// `redispatched`: the warehouses the order shipped from, and ships from now.
    pub warehouses_before: Vec<i64>,
    pub warehouses_after: Vec<i64>,
    /// `redirected`: the waybills the carriers changed.
    pub waybills: Vec<String>,
    /// `not_carried_out`: why, in English and Chinese.
    pub why: Option<Explanation>,
}

impl From<&AddressChange> for AddressChangeView {
    fn from(change: &AddressChange) -> AddressChangeView {
        let mut view = AddressChangeView {
            from: AddressView::from(&change.from),
            to: AddressView::from(&change.to),
            promised_by_before: change.promised_by_before.map(rfc3339),
            outcome: None,
            promised_by: None,
            warehouses_before: vec![],
            warehouses_after: vec![],
            waybills: vec![],
            why: None,
        };
        match &change.outcome {
            None => {}
            Some(AddressOutcome::Redispatched {
                warehouses_before,
                warehouses_after,
                promised_by,
            }) => {
                view.outcome = Some("redispatched".into());
                view.promised_by = promised_by.map(rfc3339);
                view.warehouses_before = warehouses_before.iter().map(|w| w.get()).collect();
                view.warehouses_after = warehouses_after.iter().map(|w| w.get()).collect();
            }
            Some(AddressOutcome::Redirected { waybills, promised_by }) => {
                view.outcome = Some("redirected".into());
                view.promised_by = promised_by.map(rfc3339);
                view.waybills = waybills.iter().map(|w| w.as_str().into()).collect();
            }
            Some(AddressOutcome::NotCarriedOut(refusal)) => {
                let (en, zh) = explain::address_refusal(*refusal);
                view.outcome = Some("not_carried_out".into());
                view.why = Some(Explanation {
                    code: refusal.code().into(),
                    en: en.into(),
                    zh: zh.into(),
                });
            }
        }
        view
    }
}
