//! Which SKUs sell: per SKU and hour, orders placed with it, its units and value, units paid,
//! and stock-outs — a stock row of it reaching 0 available units (`compass_skus`, with the
//! SKU's product). After-sales refunds are added by `after_sales.rs`.

use super::dimensions::Folding;
use miaodan_store::{CompassDimensions, OrderBodyV1, SkuFigures};
use serde::Deserialize;
use std::collections::BTreeSet;

/// The SKUs an order event names (for their products).
pub(super) fn skus_of_order(folding: &Folding<'_>) -> Vec<i64> {
    match folding.action() {
        "placed" | "paid" => folding
            .body::<OrderBodyV1>()
            .map(|o| o.lines.iter().map(|l| l.sku).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Adds to the SKU's figures of the event's hour (its product from the memory; 0 if the
/// catalog does not know it).
pub(super) fn add(folding: &Folding<'_>, dimensions: &mut CompassDimensions, sku: i64, figures: &SkuFigures) {
    let product = dimensions.memory.products.get(&sku).copied().unwrap_or(0);
    let key = (folding.event.shop, folding.hour, sku);
    dimensions
        .skus
        .entry(key)
        .or_insert((product, SkuFigures::default()))
        .1
        .add(figures);
}

/// What an order placed or paid adds to its SKUs.
pub(super) fn fold_order(folding: &Folding<'_>, dimensions: &mut CompassDimensions) {
    let placed = match folding.action() {
        "placed" => true,
        "paid" => false,
        _ => return,
    };
    let Some(order) = folding.body::<OrderBodyV1>() else {
        return;
    };
    let mut counted = BTreeSet::new();
    for line in &order.lines {
        let figures = if placed {
            SkuFigures {
                orders: i64::from(counted.insert(line.sku)),
                units: line.quantity,
                gmv_fen: line.quantity * line.unit_price,
                ..SkuFigures::default()
            }
        } else {
            SkuFigures {
                paid_units: line.quantity,
                ..SkuFigures::default()
            }
        };
        add(folding, dimensions, line.sku, &figures);
    }
}

#[derive(Deserialize)]
struct StockBody {
    sku: i64,
    warehouse: i64,
    available: i64,
}

/// A stock row's new level: a stock-out when it had units the reader saw and has none now.
pub(super) fn fold_stock(folding: &Folding<'_>, dimensions: &mut CompassDimensions) {
    // `stock.moved` is a merchant's ledger line; the row's level comes with its `stock.changed`.
    if folding.action() != "changed" {
        return;
    }
    let Some(stock) = folding.body::<StockBody>() else {
        return;
    };
    let before = dimensions
        .memory
        .stock
        .insert((stock.sku, stock.warehouse), stock.available)
        .unwrap_or(0);
    if before > 0 && stock.available == 0 {
        let figures = SkuFigures {
            stock_outs: 1,
            ..SkuFigures::default()
        };
        add(folding, dimensions, stock.sku, &figures);
    }
}

#[cfg(test)]
mod tests {
    use super::super::dimensions::{fold, test_support::*};
    use super::*;
    use miaodan_store::CompassMemory;
    use serde_json::json;

    fn order(lines: &[(i64, i64, i64)]) -> serde_json::Value {
        let lines: Vec<_> = lines
            .iter()
            .map(|(sku, quantity, unit_price)| json!({"sku": sku, "quantity": quantity, "unit_price": unit_price}))
            .collect();
        json!({"order": 1, "checkout": 1, "buyer": 1, "state": "paid", "total": 0, "adcode": 310_101_000_000_i64,
               "flash_sale": null, "lines": lines, "created_at": HOUR, "paid_at": null, "cancel_reason": null})
    }

    fn stock(sku: i64, available: i64) -> serde_json::Value {
        json!({"sku": sku, "warehouse": 3, "available": available, "reserved": 0, "sold": 0})
    }

    #[test]
    fn each_sku_counts_its_orders_units_value_and_paid_units_under_its_product() {
        let memory = CompassMemory {
            products: [(11, 1), (12, 1)].into(),
            ..CompassMemory::default()
        };
        let events = [
            event(1, 1, "order.placed", 1, order(&[(11, 2, 990), (12, 1, 500)])),
            event(2, 2, "order.placed", 2, order(&[(11, 1, 990)])),
            event(3, 3, "order.paid", 1, order(&[(11, 2, 990), (12, 1, 500)])),
        ];
        let d = fold(&events, memory);
        let eleven = SkuFigures {
            orders: 2,
            units: 3,
            gmv_fen: 2_970,
            paid_units: 2,
            ..SkuFigures::default()
        };
        assert_eq!(d.skus.get(&(shop(), HOUR, 11)), Some(&(1, eleven)));
        let twelve = SkuFigures {
            orders: 1,
            units: 1,
            gmv_fen: 500,
            paid_units: 1,
            ..SkuFigures::default()
        };
        assert_eq!(d.skus.get(&(shop(), HOUR, 12)), Some(&(1, twelve)));
    }

    #[test]
    fn a_stock_row_runs_out_once_each_time_it_reaches_zero_from_units_the_reader_saw() {
        let remembered = CompassMemory {
            stock: [((21, 3), 1)].into(),
            ..CompassMemory::default()
        };
        let events = [
            event(1, 1, "stock.changed", 21, stock(21, 0)),
            event(2, 2, "stock.changed", 21, stock(21, 0)),
            event(3, 3, "stock.changed", 22, stock(22, 0)),
            event(4, 4, "stock.changed", 22, stock(22, 5)),
            event(5, 5, "stock.changed", 22, stock(22, 0)),
        ];
        let d = fold(&events, remembered);
        let outs = |sku| d.skus.get(&(shop(), HOUR, sku)).map(|(_, f)| f.stock_outs);
        assert_eq!(outs(21), Some(1), "from the remembered unit to none, once");
        assert_eq!(outs(22), Some(1), "a row created empty has not run out");
        assert_eq!(d.memory.stock.get(&(22, 3)), Some(&0));
    }
}
