//! What the assistant is told of a buyer: the buyer's own newest orders with their lines'
//! titles, parcels and after-sales requests, the other SKUs of the products ordered, and the
//! flash sales on now or soon. Nothing of another buyer is ever read.

use crate::app::AppState;
use miaodan_assistant::dialogue::{Facts, OrderFacts, ProductOptions, SaleFacts, Sibling};
use miaodan_domain::catalog::{ListingStatus, Product, Sku};
use miaodan_domain::fulfillment::promise::Destination;
use miaodan_domain::orders::{Order, OrderState};
use miaodan_domain::shard::DeliveryOptionsQuestion;
use miaodan_domain::{BuyerId, ProductId, ShopId, SkuId};
use miaodan_store::records::{Keyset, OrderFilter};
use miaodan_store::{AfterSalesFilter, StoreError};
use std::collections::HashMap;

/// The buyer's newest orders the assistant knows of.
pub const ORDERS_READ_MAX: i64 = 12;
/// Flash sales looked at for a question about one.
const SALES_READ_MAX: i64 = 20;
/// A flash sale starting within this is "soon".
const SALE_SOON_MS: i64 = 24 * 3_600_000;

/// Products and shops read once per turn, however many lines name them.
#[derive(Default)]
struct Catalog {
    skus: HashMap<SkuId, Option<Sku>>,
    products: HashMap<ProductId, Option<(Product, Vec<Sku>)>>,
    shops: HashMap<ShopId, String>,
}

impl Catalog {
    async fn sku(&mut self, state: &AppState, id: SkuId) -> Result<Option<Sku>, StoreError> {
        if let Some(known) = self.skus.get(&id) {
            return Ok(known.clone());
        }
        let sku = state.store.sku(id).await?;
        self.skus.insert(id, sku.clone());
        Ok(sku)
    }

    async fn product(&mut self, state: &AppState, id: ProductId) -> Result<Option<(Product, Vec<Sku>)>, StoreError> {
        if let Some(known) = self.products.get(&id) {
            return Ok(known.clone());
        }
        let product = state.store.product(id).await?;
        self.products.insert(id, product.clone());
        Ok(product)
    }

    async fn shop_name(&mut self, state: &AppState, id: ShopId) -> Result<String, StoreError> {
        if let Some(known) = self.shops.get(&id) {
            return Ok(known.clone());
        }
        let name = state
            .store
            .shop(id)
            .await?
            .map(|s| s.name.as_str().to_string())
            .unwrap_or_default();
        self.shops.insert(id, name.clone());
        Ok(name)
    }

    /// "蓝牙耳机 Pro 黑色": the product's title and the SKU's name.
    async fn title(&mut self, state: &AppState, id: SkuId) -> Result<String, StoreError> {
        let Some(sku) = self.sku(state, id).await? else {
            return Ok(String::new());
        };
        Ok(match self.product(state, sku.product).await? {
            Some((product, _)) => format!("{} {}", product.title.as_str(), sku.name.as_str()),
            None => sku.name.as_str().to_string(),
        })
    }
}

pub async fn read(state: &AppState, buyer: BuyerId) -> Result<Facts, StoreError> {
    let now = state.clock.now();
    let filter = OrderFilter {
        buyer: Some(buyer),
        limit: ORDERS_READ_MAX,
        ..OrderFilter::default()
    };
    let orders = state.store.orders(&filter).await?;
    let mut catalog = Catalog::default();
    let mut facts = Vec::with_capacity(orders.len());
    for order in orders {
        facts.push(order_facts(state, &mut catalog, order).await?);
    }
    let sales = sales(state, &mut catalog, &facts, now).await?;
    let default_address = state.store.buyer(buyer).await?.and_then(|b| b.default_address);
    Ok(Facts {
        now,
        orders: facts,
        sales,
        default_address,
        options: Vec::new(),
    })
}

async fn order_facts(state: &AppState, catalog: &mut Catalog, order: Order) -> Result<OrderFacts, StoreError> {
    let mut titles = Vec::with_capacity(order.lines.len());
    let mut siblings = Vec::new();
    for line in &order.lines {
        titles.push(catalog.title(state, line.sku).await?);
        let Some(sku) = catalog.sku(state, line.sku).await? else {
            continue;
        };
        let Some((product, skus)) = catalog.product(state, sku.product).await? else {
            continue;
        };
        for other in skus
            .iter()
            .filter(|s| s.id != line.sku && s.status == ListingStatus::Active)
        {
            siblings.push(Sibling {
                of: line.sku,
                sku: other.id,
                title: format!("{} {}", product.title.as_str(), other.name.as_str()),
                price: other.price,
            });
        }
    }
    let parcels = match order.state {
        OrderState::PendingPayment | OrderState::Cancelled => Vec::new(),
        _ => {
            state
                .store
                .shipments_of_order(order.id, Keyset { after: None, limit: 20 })
                .await?
        }
    };
    let filter = AfterSalesFilter {
        buyer: Some(order.buyer),
        order: Some(order.id),
        ..AfterSalesFilter::default()
    };
    let mut requests: Vec<_> = state
        .store
        .after_sales_requests(&filter, Keyset { after: None, limit: 20 })
        .await?
        .into_iter()
        .map(|saved| (saved.id, saved.request))
        .collect();
    requests.reverse();
    Ok(OrderFacts {
        shop_name: catalog.shop_name(state, order.shop).await?,
        order,
        titles,
        parcels,
        requests,
        siblings,
    })
}

/// Flash sales running now or starting within a day, and what the buyer holds of each
/// (counted from the orders read).
async fn sales(
    state: &AppState,
    catalog: &mut Catalog,
    orders: &[OrderFacts],
    now: miaodan_domain::Timestamp,
) -> Result<Vec<SaleFacts>, StoreError> {
    let page = Keyset {
        after: None,
        limit: SALES_READ_MAX,
    };
    let mut sales = Vec::new();
    for sale in state.store.flash_sales(None, page).await? {
        let live_or_soon =
            !sale.closed && sale.ends_at > now && sale.starts_at.unix_ms() - now.unix_ms() <= SALE_SOON_MS;
        if !live_or_soon {
            continue;
        }
        let held = orders
            .iter()
            .filter(|o| o.order.flash_sale == Some(sale.id) && o.order.state != OrderState::Cancelled)
            .flat_map(|o| o.order.lines.iter().map(|l| l.quantity.get()))
            .sum();
        let title = catalog.title(state, sale.sku).await?;
        sales.push(SaleFacts { sale, title, held });
    }
    Ok(sales)
}

/// What the platform can promise now for one unit of `sku` to the buyer's default address: the
/// shop's shard answers as it answers `GET /v1/delivery-options`. Nothing when the buyer has no
/// default address, the SKU is unknown or its shard is busy (the answer then says it cannot tell).
pub async fn options(state: &AppState, facts: &Facts, sku: SkuId) -> Result<Vec<ProductOptions>, StoreError> {
    let (Some(address), Some(found)) = (facts.default_address.as_ref(), state.store.sku(sku).await?) else {
        return Ok(Vec::new());
    };
    let Some(destination) = Destination::of(address.adcode) else {
        return Ok(Vec::new());
    };
    let title = Catalog::default().title(state, sku).await?;
    let shop = found.shop;
    let index = state.shards.shard_of(shop);
    let question = DeliveryOptionsQuestion {
        items: vec![(sku, 1)],
        destination: Some(destination),
    };
    let answer = state.shards.inquire(index, question).await;
    let of_shop = answer.ok().and_then(|a| a.shops.into_iter().find(|s| s.shop == shop));
    Ok(match of_shop.map(|s| s.options) {
        Some(Ok(options)) => vec![ProductOptions { sku, title, options }],
        _ => Vec::new(),
    })
}
