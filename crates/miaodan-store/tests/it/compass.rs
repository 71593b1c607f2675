//! The compass's figures: what the reader records per minute is also kept per hour, and a
//! series answers the same whichever it reads.
#![allow(clippy::unwrap_used)]

use miaodan_domain::{ShopId, Timestamp};
use miaodan_store::CompassFigures;
use std::collections::BTreeMap;

use crate::support::{Backend, Database};

both_backends!(a_series_by_the_hour_reads_hours_that_equal_their_minutes,);

const HOUR: i64 = 3_600_000;
/// Midnight in Shanghai (16:00 UTC the day before).
const DAY_START: i64 = 1_795_363_200_000;

fn figures(orders: i64, gmv_fen: i64) -> CompassFigures {
    CompassFigures {
        orders,
        units: orders,
        gmv_fen,
        ..CompassFigures::default()
    }
}

async fn a_series_by_the_hour_reads_hours_that_equal_their_minutes(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let shop = ShopId::new(3).unwrap();
    let other = ShopId::new(4).unwrap();
    // Minutes in three hours, recorded over two passes of the reader.
    let first: BTreeMap<(ShopId, i64), CompassFigures> = [
        ((shop, DAY_START + 60_000), figures(1, 100)),
        ((shop, DAY_START + HOUR - 60_000), figures(2, 250)),
        ((other, DAY_START + 60_000), figures(7, 700)),
    ]
    .into();
    let second: BTreeMap<(ShopId, i64), CompassFigures> = [
        ((shop, DAY_START + HOUR - 60_000), figures(1, 50)),
        ((shop, DAY_START + 2 * HOUR + 30 * 60_000), figures(4, 400)),
    ]
    .into();
    store.record_compass(0, 10, &first).await.unwrap();
    store.record_compass(0, 20, &second).await.unwrap();
    let at = Timestamp::from_unix_ms;
    let orders = |series: Vec<(Timestamp, CompassFigures)>| -> Vec<(i64, i64, i64)> {
        series
            .into_iter()
            .map(|(start, f)| ((start.unix_ms() - DAY_START) / 60_000, f.orders, f.gmv_fen))
            .collect()
    };
    let by_hour = store
        .compass_series(Some(shop), at(DAY_START), at(DAY_START + 3 * HOUR), HOUR)
        .await
        .unwrap();
    assert_eq!(orders(by_hour), vec![(0, 4, 400), (120, 4, 400)]);
    let by_minute = store
        .compass_series(Some(shop), at(DAY_START), at(DAY_START + 3 * HOUR), 60_000)
        .await
        .unwrap();
    assert_eq!(orders(by_minute), vec![(1, 1, 100), (59, 3, 300), (150, 4, 400)]);
    // A range cut inside an hour counts only its minutes.
    let cut = store
        .compass_series(Some(shop), at(DAY_START + 2 * 60_000), at(DAY_START + 3 * HOUR), HOUR)
        .await
        .unwrap();
    assert_eq!(orders(cut), vec![(0, 3, 300), (120, 4, 400)]);
    // A Shanghai day, every shop.
    let day = store
        .compass_series(None, at(DAY_START), at(DAY_START + 24 * HOUR), 24 * HOUR)
        .await
        .unwrap();
    assert_eq!(orders(day), vec![(0, 15, 1_500)]);
}
