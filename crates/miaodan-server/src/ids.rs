//! Id allocation. The shell hands ids to the core with each command. Each kind counts up from
//! the highest id found in the database at start, so a restart never reuses one; ids of
//! requests that were never committed are simply skipped.

use miaodan_store::records::IdMaxima;
use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Debug, Default)]
pub struct Ids {
    shop: AtomicI64,
    buyer: AtomicI64,
    product: AtomicI64,
    sku: AtomicI64,
    warehouse: AtomicI64,
    order: AtomicI64,
    checkout: AtomicI64,
    token: AtomicI64,
    flash_sale: AtomicI64,
    payment_intent: AtomicI64,
    refund: AtomicI64,
    one_tap_agreement: AtomicI64,
    notification: AtomicI64,
    shipment: AtomicI64,
    after_sales: AtomicI64,
    diagnosis_report: AtomicI64,
    staff_member: AtomicI64,
    staff_session: AtomicI64,
    audit_entry: AtomicI64,
    penalty: AtomicI64,
    risk_challenge: AtomicI64,
    conversation: AtomicI64,
}

fn next(counter: &AtomicI64) -> i64 {
    counter.fetch_add(1, Ordering::Relaxed) + 1
}

impl Ids {
    pub fn starting_after(maxima: IdMaxima) -> Ids {
        Ids {
            shop: AtomicI64::new(maxima.shop),
            buyer: AtomicI64::new(maxima.buyer),
            product: AtomicI64::new(maxima.product),
            sku: AtomicI64::new(maxima.sku),
            warehouse: AtomicI64::new(maxima.warehouse),
            order: AtomicI64::new(maxima.order),
            checkout: AtomicI64::new(maxima.checkout),
            token: AtomicI64::new(maxima.token),
            flash_sale: AtomicI64::new(maxima.flash_sale),
            payment_intent: AtomicI64::new(maxima.payment_intent),
            refund: AtomicI64::new(maxima.refund),
            one_tap_agreement: AtomicI64::new(maxima.one_tap_agreement),
            notification: AtomicI64::new(maxima.notification),
            shipment: AtomicI64::new(maxima.shipment),
            after_sales: AtomicI64::new(maxima.after_sales),
            diagnosis_report: AtomicI64::new(maxima.diagnosis_report),
            staff_member: AtomicI64::new(maxima.staff_member),
            staff_session: AtomicI64::new(maxima.staff_session),
            audit_entry: AtomicI64::new(maxima.audit_entry),
            penalty: AtomicI64::new(maxima.penalty),
            risk_challenge: AtomicI64::new(maxima.risk_challenge),
            conversation: AtomicI64::new(maxima.conversation),
        }
    }

    pub fn penalty(&self) -> i64 {
        next(&self.penalty)
    }

    pub fn risk_challenge(&self) -> i64 {
        next(&self.risk_challenge)
    }

    pub fn conversation(&self) -> i64 {
        next(&self.conversation)
    }

    pub fn staff_member(&self) -> i64 {
        next(&self.staff_member)
    }
    pub fn staff_session(&self) -> i64 {
        next(&self.staff_session)
    }
    pub fn audit_entry(&self) -> i64 {
        next(&self.audit_entry)
    }
    pub fn shop(&self) -> i64 {
        next(&self.shop)
    }
    pub fn buyer(&self) -> i64 {
        next(&self.buyer)
    }
    pub fn product(&self) -> i64 {
        next(&self.product)
    }
    pub fn sku(&self) -> i64 {
        next(&self.sku)
    }
    pub fn warehouse(&self) -> i64 {
        next(&self.warehouse)
    }
    pub fn order(&self) -> i64 {
        next(&self.order)
    }
    pub fn checkout(&self) -> i64 {
        next(&self.checkout)
    }
    pub fn token(&self) -> i64 {
        next(&self.token)
    }
    pub fn flash_sale(&self) -> i64 {
        next(&self.flash_sale)
    }
    pub fn payment_intent(&self) -> i64 {
        next(&self.payment_intent)
    }
    pub fn refund(&self) -> i64 {
        next(&self.refund)
    }
    pub fn one_tap_agreement(&self) -> i64 {
        next(&self.one_tap_agreement)
    }
    pub fn notification(&self) -> i64 {
        next(&self.notification)
    }
    pub fn after_sales(&self) -> i64 {
        next(&self.after_sales)
    }
    pub fn diagnosis_report(&self) -> i64 {
        next(&self.diagnosis_report)
    }

    pub fn shipment(&self) -> i64 {
        next(&self.shipment)
    }
}
