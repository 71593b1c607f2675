//! Id allocation. The shell hands ids to the core with each command. Ids come in blocks
//! reserved from the database (`miaodan_store::id_blocks`), so two processes serving one
//! database never hand out the same id, and a restart never reuses one: ids of a block a
//! process did not use up, or of requests never committed, are simply skipped.
//!
//! Handing out an id takes a lock for a moment and no database round trip: the next block is
//! reserved in the background once half of the current one is gone. A block's size follows the
//! pace of its kind (what it handed out in the last two seconds, from 16 to 65 536 ids), so a
//! busy kind reserves rarely and a quiet one wastes few ids at a restart.

use miaodan_domain::flash_sale::FlashSaleId;
use miaodan_domain::ids::{
    AfterSalesId, BuyerId, CheckoutId, ConversationId, OrderId, PaymentIntentId, ProductId, RefundId, ShipmentId,
    ShopId, SkuId, WarehouseId,
};
use miaodan_store::id_blocks::IdKind;
use miaodan_store::{Store, StoreError};
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The smallest and largest block reserved at once.
const BLOCK_MIN: i64 = 16;
const BLOCK_MAX: i64 = 65_536;
/// A block holds what the kind's pace hands out in twice this.
const BLOCK_PACE: Duration = Duration::from_secs(1);

pub struct Ids {
    store: Arc<Store>,
    /// One per kind, at the kind's place in [`IdKind::ALL`].
    counters: Vec<Arc<Counter>>,
}

struct Counter {
    kind: IdKind,
    block: Mutex<Block>,
    /// One reservation at a time per kind: the requests that find the block empty wait for it.
    reserving: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Block {
    current: Range<i64>,
    /// Reserved ahead, handed out once `current` is used up.
    spare: Option<Range<i64>>,
    size: i64,
    reserved_at: Option<Instant>,
    /// A reservation of the spare is under way.
    prefetching: bool,
}

enum Taken {
    Id { id: i64, prefetch: bool },
    Empty,
}

impl Block {
    fn take(&mut self) -> Taken {
        if self.current.is_empty()
            && let Some(spare) = self.spare.take()
        {
            self.current = spare;
        }
        let Some(id) = self.current.next() else {
            return Taken::Empty;
        };
        let prefetch =
            self.spare.is_none() && !self.prefetching && self.current.end - self.current.start <= self.size / 2;
        self.prefetching |= prefetch;
        Taken::Id { id, prefetch }
    }

    /// The size of the next block: what the kind's pace since the last reservation hands out in
    /// twice [`BLOCK_PACE`], so a busy kind reaches its largest block in one step (each
    /// reservation is a transaction of its own, with its flush to disk).
    fn next_size(&mut self, now: Instant) -> i64 {
        self.size = match self.reserved_at.replace(now) {
            None => BLOCK_MIN,
            Some(last) => {
                let elapsed_ms = i64::try_from((now - last).as_millis()).unwrap_or(i64::MAX).max(1);
                let pace_ms = i64::try_from(BLOCK_PACE.as_millis()).unwrap_or(1_000);
                let per_pace = self.size.saturating_mul(pace_ms) / elapsed_ms;
                per_pace.saturating_mul(2).clamp(BLOCK_MIN, BLOCK_MAX)
            }
        };
        self.size
    }

    fn receive(&mut self, block: Range<i64>) {
        if self.current.is_empty() {
            self.current = block;
        } else {
            self.spare = Some(block);
        }
    }
}

impl Counter {
    fn block(&self) -> std::sync::MutexGuard<'_, Block> {
        self.block.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reserves a block and adds it to what this counter hands out.
    async fn reserve(&self, store: &Store) -> Result<(), StoreError> {
        let size = self.block().next_size(Instant::now());
        let reserved = store.reserve_ids(self.kind, size).await;
        let mut block = self.block();
        block.prefetching = false;
        let first = reserved.inspect_err(|error| {
            tracing::warn!(%error, kind = self.kind.as_str(), "reserving a block of ids failed");
        })?;
        block.receive(first..first + size);
        Ok(())
    }

    /// Reserves a block if this counter has no id left, one reservation at a time: a request
    /// that waited for another's finds it done.
    async fn refill(&self, store: &Store) -> Result<(), StoreError> {
        let _turn = self.reserving.lock().await;
        let empty = {
            let block = self.block();
            block.current.is_empty() && block.spare.is_none()
        };
        match empty {
            true => self.reserve(store).await,
            false => Ok(()),
        }
    }
}

macro_rules! id_kinds {
    ($($name:ident => $kind:ident as $id:ty),* $(,)?) => {
        impl Ids {
            $(pub async fn $name(&self) -> Result<$id, StoreError> {
                let raw = self.next(IdKind::$kind).await?;
                <$id>::try_from(raw).map_err(|_| {
                    StoreError::Corrupt(format!("reserved {} id {raw} is not positive", IdKind::$kind.as_str()))
                })
            })*
        }
    };
}

id_kinds! {
    shop => Shop as ShopId, buyer => Buyer as BuyerId, product => Product as ProductId,
    sku => Sku as SkuId, warehouse => Warehouse as WarehouseId, order => Order as OrderId,
    checkout => Checkout as CheckoutId, token => Token as i64, flash_sale => FlashSale as FlashSaleId,
    payment_intent => PaymentIntent as PaymentIntentId, refund => Refund as RefundId,
    one_tap_agreement => OneTapAgreement as i64, notification => Notification as i64,
    shipment => Shipment as ShipmentId, after_sales => AfterSales as AfterSalesId,
    diagnosis_report => DiagnosisReport as i64, staff_member => StaffMember as i64,
    staff_session => StaffSession as i64, audit_entry => AuditEntry as i64, penalty => Penalty as i64,
    risk_challenge => RiskChallenge as i64, conversation => Conversation as ConversationId,
    idempotency_response => IdempotencyResponse as i64, webhook_endpoint => WebhookEndpoint as i64,
    webhook_delivery => WebhookDelivery as i64,
}

impl Ids {
    /// Hands out ids reserved from `store`; reserves nothing until the first is asked for.
    pub fn reserving_from(store: Arc<Store>) -> Ids {
        let counters = IdKind::ALL
            .iter()
            .map(|&kind| {
                Arc::new(Counter {
                    kind,
                    block: Mutex::new(Block::default()),
                    reserving: tokio::sync::Mutex::new(()),
                })
            })
            .collect();
        Ids { store, counters }
    }

    /// Reserves the first block of each of `kinds` now, so that the first requests needing them
    /// (a flash sale's taps, right after a start) wait for no reservation, and reach their shard
    /// even while the database is out.
    pub async fn reserve_first_blocks(&self, kinds: &[IdKind]) -> Result<(), StoreError> {
        for kind in kinds {
            self.counters[*kind as usize].refill(&self.store).await?;
        }
        Ok(())
    }

    /// The next id of `kind`; waits for a reservation only when the current block and the one
    /// reserved ahead are both used up.
    pub async fn next(&self, kind: IdKind) -> Result<i64, StoreError> {
        // `IdKind::ALL` lists the kinds in their declared order (a test checks it).
        let counter = &self.counters[kind as usize];
        loop {
            let taken = counter.block().take();
            if let Taken::Id { id, prefetch } = taken {
                if prefetch {
                    self.prefetch(counter.clone());
                }
                return Ok(id);
            }
            counter.refill(&self.store).await?;
        }
    }

    fn prefetch(&self, counter: Arc<Counter>) {
        let store = self.store.clone();
        tokio::spawn(async move {
            let _turn = counter.reserving.lock().await;
            let wanted = counter.block().spare.is_none();
            let reserved = match wanted {
                true => counter.reserve(&store).await,
                false => Ok(()),
            };
            counter.block().prefetching = false;
            if let Err(error) = reserved {
                // Nothing waits for it: a request that finds the block empty reserves itself.
                tracing::warn!(%error, "reserving ids ahead failed");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use miaodan_store::Durability;

    async fn store(dir: &tempfile::TempDir) -> Arc<Store> {
        let path = dir.path().join("ids.db");
        let opened = Store::open(&path.to_string_lossy(), Durability::AcceptDataLossOnPowerFailure).await;
        Arc::new(opened.expect("a store in a fresh directory"))
    }

    /// Two processes on one database hand out orders side by side: no id twice.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn processes_sharing_a_database_never_hand_out_one_id_twice() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = store(&dir).await;
        let (a, b) = (
            Arc::new(Ids::reserving_from(store.clone())),
            Arc::new(Ids::reserving_from(store.clone())),
        );
        let hand_out = |ids: Arc<Ids>| async move {
            let mut got = Vec::new();
            for _ in 0..3_000 {
                got.push(ids.order().await.expect("an id").get());
            }
            got
        };
        let (from_a, from_b) = tokio::join!(tokio::spawn(hand_out(a)), tokio::spawn(hand_out(b)));
        let mut all: Vec<i64> = from_a.expect("a").into_iter().chain(from_b.expect("b")).collect();
        all.sort_unstable();
        let handed_out = all.len();
        all.dedup();
        assert_eq!(all.len(), handed_out, "an id was handed out twice");
        // The next reservation starts after everything reserved: unused ids are skipped, never
        // given again.
        let next = store.reserve_ids(IdKind::Order, 1).await.expect("a reservation");
        assert!(next > all[all.len() - 1], "{next} reused a reserved id");
    }

    /// The first block is the smallest; then a block holds what the pace handed out in two
    /// seconds, within 16 and 65 536 ids.
    #[test]
    fn a_block_follows_the_pace_of_its_kind() {
        let mut block = Block::default();
        let start = Instant::now();
        assert_eq!(block.next_size(start), BLOCK_MIN);
        // 16 ids in 10 ms: 1 600 a second.
        assert_eq!(block.next_size(start + Duration::from_millis(10)), 3_200);
        // 3 200 in 1 ms: far past the largest.
        assert_eq!(block.next_size(start + Duration::from_millis(11)), BLOCK_MAX);
        // 65 536 in a minute: about 1 092 a second.
        let minute_later = start + Duration::from_millis(60_011);
        assert_eq!(block.next_size(minute_later), 2 * BLOCK_MAX * 1_000 / 60_000);
        // A few in an hour: the smallest.
        assert_eq!(block.next_size(minute_later + Duration::from_secs(3_600)), BLOCK_MIN);
    }

    /// A new process (a restart) starts above everything the last one reserved, and a quiet
    /// kind wastes at most a small block.
    #[tokio::test]
    async fn a_restart_hands_out_ids_above_every_earlier_block() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = store(&dir).await;
        let first = Ids::reserving_from(store.clone());
        let shops: Vec<i64> = [first.shop().await, first.shop().await]
            .into_iter()
            .map(|id| id.expect("an id").get())
            .collect();
        assert_eq!(shops, [1, 2], "a fresh database's first shops");
        drop(first);
        let again = Ids::reserving_from(store);
        let shop = again.shop().await.expect("an id").get();
        assert!((3..=1 + 2 * BLOCK_MIN).contains(&shop), "after a restart: shop {shop}");
    }

    #[test]
    fn each_kind_has_its_place_in_the_list_of_kinds() {
        for (place, kind) in IdKind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, place, "{kind:?}");
        }
    }
}
