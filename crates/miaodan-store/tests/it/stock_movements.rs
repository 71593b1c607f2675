//! The stock ledger: a merchant's movements are appended in the batch that makes them, each
//! one line (never coalesced like the stock row), and read back as the units added before a
//! sale and removed after it, only of that SKU and warehouse and only inside the windows.
#![allow(clippy::unwrap_used)]

use miaodan_domain::inventory::{MovementCause, StockMovement};
use miaodan_domain::shard::Effect;
use miaodan_domain::{ShopId, SkuId, Timestamp, WarehouseId};
use miaodan_store::StockAround;

use crate::support::{Backend, Database};

both_backends!(
    movements_around_a_sale_are_summed_by_direction_inside_their_windows,
    two_counts_of_one_row_in_one_batch_are_two_lines,
);

const HOUR_MS: i64 = 3_600_000;
const SKU: i64 = 700;
const WAREHOUSE: i64 = 70;

fn at(hours: i64) -> Timestamp {
    Timestamp::from_unix_ms(1_700_000_000_000 + hours * HOUR_MS)
}

fn moved(sku: i64, warehouse: i64, delta: i64, available_after: i64, hours: i64) -> Effect {
    Effect::StockMoved(StockMovement {
        shop: ShopId::new(7).unwrap(),
        sku: SkuId::new(sku).unwrap(),
        warehouse: WarehouseId::new(warehouse).unwrap(),
        delta,
        available_after,
        at: at(hours),
        cause: MovementCause::MerchantSet,
    })
}

/// A sale from hour 100 to hour 102, with a 24-hour window either side.
async fn around_the_sale(store: &miaodan_store::Store) -> StockAround {
    store
        .stock_moved_around(SKU, WAREHOUSE, (at(100), at(102)), 24 * HOUR_MS)
        .await
        .unwrap()
}

async fn movements_around_a_sale_are_summed_by_direction_inside_their_windows(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let mut writer = store.writer(1).await.unwrap();
    assert_eq!(around_the_sale(&store).await, StockAround::default(), "an empty ledger");
    let effects = [
        moved(SKU, WAREHOUSE, 500, 500, 70),   // before the window: not counted
        moved(SKU, WAREHOUSE, 300, 800, 80),   // added before
        moved(SKU, WAREHOUSE, -50, 750, 90),   // removed before the sale: not a removal after
        moved(SKU, WAREHOUSE, 200, 950, 99),   // added before
        moved(SKU, WAREHOUSE, 40, 990, 101),   // added during the sale: not before
        moved(SKU, WAREHOUSE, -600, 390, 102), // removed at the end
        moved(SKU, WAREHOUSE, -90, 300, 125),  // removed after
        moved(SKU, WAREHOUSE, -300, 0, 126),   // past the window
        moved(SKU, 71, 1_000, 1_000, 99),      // another warehouse
        moved(701, WAREHOUSE, -1_000, 0, 103), // another SKU
    ];
    writer.commit_batch(&effects, &[], at(130)).await.unwrap();
    assert_eq!(
        around_the_sale(&store).await,
        StockAround {
            added_before: 500,
            removed_after: 690,
        }
    );
}

async fn two_counts_of_one_row_in_one_batch_are_two_lines(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let mut writer = store.writer(1).await.unwrap();
    let effects = [
        moved(SKU, WAREHOUSE, 100, 100, 99),
        moved(SKU, WAREHOUSE, 100, 200, 99),
        moved(SKU, WAREHOUSE, -200, 0, 103),
        moved(SKU, WAREHOUSE, -200, 0, 103),
    ];
    writer.commit_batch(&effects, &[], at(103)).await.unwrap();
    assert_eq!(
        around_the_sale(&store).await,
        StockAround {
            added_before: 200,
            removed_after: 400,
        }
    );
}
