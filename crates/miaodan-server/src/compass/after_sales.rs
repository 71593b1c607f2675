//! What after-sales asks, per hour, SKU, kind and reason (`compass_after_sales`): requests
//! opened, approved, refused and refunded, with the money refunded; a refund also counts
//! against its SKU in `compass_skus`.
//!
//! A request is counted under its first line's SKU (0 for a request without goods, such as a
//! change of address), so per kind and reason every request counts once. A request's events
//! carry the stages of its whole timeline; the reader remembers how many it counted, and counts
//! the steps after them — an approval by the rules at opening and a later one after an appeal
//! both count. Bodies written before the steps were carried count by their stage alone.

use super::dimensions::Folding;
use super::skus;
use miaodan_store::{AfterSalesFigures, CompassDimensions, SkuFigures};
use serde::Deserialize;

#[derive(Deserialize)]
struct Line {
    sku: i64,
}

#[derive(Deserialize)]
struct RequestBody {
    kind: String,
    reason: String,
    amount: i64,
    #[serde(default)]
    lines: Vec<Line>,
    /// Absent from bodies written before the compass's breadth.
    steps: Option<Vec<String>>,
}

/// The SKU a request is counted under.
pub(super) fn first_sku(folding: &Folding<'_>) -> Option<i64> {
    let request = folding.body::<RequestBody>()?;
    request.lines.first().map(|l| l.sku)
}

/// A request saved: opened if the reader never saw it, and each new step of its timeline.
pub(super) fn fold(folding: &Folding<'_>, dimensions: &mut CompassDimensions) {
    let Some(request) = folding.body::<RequestBody>() else {
        return;
    };
    let id = folding.event.subject;
    let counted = dimensions.memory.requests.get(&id).copied();
    let new_steps: Vec<&str> = match &request.steps {
        Some(steps) => {
            let from = usize::try_from(counted.unwrap_or(0)).unwrap_or(0).min(steps.len());
            steps[from..].iter().map(String::as_str).collect()
        }
        None => vec![folding.action()],
    };
    let seen = request.steps.as_ref().map_or(counted.unwrap_or(0), |s| s.len() as i64);
    dimensions.memory.requests.insert(id, seen);
    let step = |stage: &str| i64::from(new_steps.contains(&stage));
    let refunded = step("refunded");
    let figures = AfterSalesFigures {
        requested: i64::from(counted.is_none()),
        approved: step("approved"),
        rejected: step("refused"),
        refunded,
        refunded_fen: refunded * request.amount,
    };
    if figures == AfterSalesFigures::default() {
        return;
    }
    let sku = request.lines.first().map_or(0, |l| l.sku);
    let key = (folding.event.shop, folding.hour, (sku, request.kind, request.reason));
    dimensions.after_sales.entry(key).or_default().add(&figures);
    if refunded > 0 && sku != 0 {
        let figures = SkuFigures {
            refunds: 1,
            refunded_fen: request.amount,
            ..SkuFigures::default()
        };
        skus::add(folding, dimensions, sku, &figures);
    }
}

#[cfg(test)]
mod tests {
    use super::super::dimensions::{fold as fold_all, test_support::*};
    use super::*;
    use miaodan_store::CompassMemory;
    use serde_json::{Value, json};

    fn request(stage: &str, steps: &[&str]) -> Value {
        json!({"request": 9, "order": 1, "buyer": 1, "kind": "return_and_refund", "reason": "size",
               "stage": stage, "amount": 990, "lines": [{"sku": 11, "quantity": 1}, {"sku": 12, "quantity": 1}],
               "steps": steps})
    }

    #[test]
    fn a_request_counts_once_when_opened_and_once_per_new_step_under_its_first_sku() {
        let memory = CompassMemory {
            products: [(11, 1)].into(),
            ..CompassMemory::default()
        };
        let events = [
            event(1, 1, "after_sales.with_merchant", 9, request("with_merchant", &[])),
            event(2, 2, "after_sales.refused", 9, request("refused", &["refused"])),
            event(
                3,
                3,
                "after_sales.with_platform",
                9,
                request("with_platform", &["refused", "with_platform"]),
            ),
            event(
                4,
                4,
                "after_sales.refunding",
                9,
                request("refunding", &["refused", "with_platform", "approved", "refunding"]),
            ),
            event(
                5,
                5,
                "after_sales.refunded",
                9,
                request(
                    "refunded",
                    &["refused", "with_platform", "approved", "refunding", "refunded"],
                ),
            ),
            event(
                6,
                6,
                "after_sales.refunded",
                9,
                request(
                    "refunded",
                    &["refused", "with_platform", "approved", "refunding", "refunded"],
                ),
            ),
        ];
        let d = fold_all(&events, memory);
        let key = (shop(), HOUR, (11, "return_and_refund".to_string(), "size".to_string()));
        let figures = AfterSalesFigures {
            requested: 1,
            approved: 1,
            rejected: 1,
            refunded: 1,
            refunded_fen: 990,
        };
        assert_eq!(d.after_sales.get(&key), Some(&figures));
        assert_eq!(d.after_sales.len(), 1);
        let sku = SkuFigures {
            refunds: 1,
            refunded_fen: 990,
            ..SkuFigures::default()
        };
        assert_eq!(d.skus.get(&(shop(), HOUR, 11)), Some(&(1, sku)));
        assert_eq!(d.memory.requests.get(&9), Some(&5));
    }

    #[test]
    fn a_request_the_reader_counted_before_adds_only_its_later_steps_and_old_bodies_count_by_stage() {
        let memory = CompassMemory {
            requests: [(9, 1)].into(),
            ..CompassMemory::default()
        };
        let old = json!({"request": 8, "order": 1, "buyer": 1, "kind": "refund_only", "reason": "size",
                         "stage": "approved", "amount": 100});
        let events = [
            event(
                1,
                1,
                "after_sales.approved",
                9,
                request("approved", &["refused", "approved"]),
            ),
            event(2, 2, "after_sales.approved", 8, old),
        ];
        let d = fold_all(&events, memory);
        let later = AfterSalesFigures {
            approved: 1,
            ..AfterSalesFigures::default()
        };
        let key = (shop(), HOUR, (11, "return_and_refund".to_string(), "size".to_string()));
        assert_eq!(d.after_sales.get(&key), Some(&later));
        let old_key = (shop(), HOUR, (0, "refund_only".to_string(), "size".to_string()));
        let opened = AfterSalesFigures {
            requested: 1,
            approved: 1,
            ..AfterSalesFigures::default()
        };
        assert_eq!(d.after_sales.get(&old_key), Some(&opened));
    }
}
