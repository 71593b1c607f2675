//! The simulated world's catalog: a few shops on two shards, each with two warehouses and two
//! SKUs and a flash sale of its first SKU, and the buyers who order and tap. Small on purpose:
//! contention, not volume, is what finds the bugs a fault can cause.

use miaodan_domain::catalog::{NewSku, ProductTitle, ShopName, SkuName};
use miaodan_domain::flash_sale::{FlashSaleId, ScheduleFlashSale};
use miaodan_domain::geo::Adcode;
use miaodan_domain::inventory::WarehouseName;
use miaodan_domain::orders::{Address, AddressDetail};
use miaodan_domain::shard::{Command, CreateProduct, CreateShop, CreateWarehouse, SetStock};
use miaodan_domain::{BuyerId, Fen, ProductId, ShopId, SkuId, Timestamp, WarehouseId};

/// Shards of the simulated platform; shop `s` lives on shard `s % SHARDS`, as in the server.
pub const SHARDS: u32 = 2;
pub const SHOPS: i64 = 4;
pub const BUYERS: i64 = 12;
/// 2023-11-14T22:13:20Z: every seed's history starts here.
pub const START: Timestamp = Timestamp::from_unix_ms(1_700_000_000_000);

pub fn shop(n: i64) -> ShopId {
    ShopId::new(n).expect("shops are numbered from 1")
}

pub fn buyer(n: i64) -> BuyerId {
    BuyerId::new(n).expect("buyers are numbered from 1")
}

/// The shop's flash sale (at most one: it has the shop's number).
pub fn flash_sale_of(shop: ShopId) -> FlashSaleId {
    FlashSaleId::new(shop.get()).expect("shops are numbered from 1")
}

/// What a shop puts on flash sale, and on which terms.
pub struct SaleTerms {
    pub units: i64,
    pub per_buyer_limit: i64,
    /// How long it runs from the start of history: some sales end within a seed's run, and
    /// give back what they still hold.
    pub lasts_ms: i64,
    pub payment_timeout_seconds: i64,
}

/// The shop's flash sale: its first SKU, from its first warehouse, running from the start.
pub fn schedule_sale(shop: ShopId, terms: &SaleTerms) -> Command {
    Command::from(ScheduleFlashSale {
        id: flash_sale_of(shop),
        shop,
        sku: skus_of(shop)[0],
        warehouse: warehouses_of(shop)[0],
        starts_at: START,
        ends_at: Timestamp::from_unix_ms(START.unix_ms() + terms.lasts_ms),
        price: Fen::price(50).expect("a valid price"),
        units: terms.units,
        per_buyer_limit: terms.per_buyer_limit,
        payment_timeout_seconds: terms.payment_timeout_seconds,
    })
}

pub fn shard_of(shop: ShopId) -> usize {
    (shop.get() as u64 % u64::from(SHARDS)) as usize
}

pub fn warehouses_of(shop: ShopId) -> [WarehouseId; 2] {
    [1, 2].map(|n| WarehouseId::new(shop.get() * 10 + n).expect("positive"))
}

pub fn skus_of(shop: ShopId) -> [SkuId; 2] {
    [1, 2].map(|n| SkuId::new(shop.get() * 100 + n).expect("positive"))
}

/// Every stock row of a shop: each SKU in each warehouse.
pub fn rows_of(shop: ShopId) -> Vec<(SkuId, WarehouseId)> {
    skus_of(shop)
        .into_iter()
        .flat_map(|sku| warehouses_of(shop).map(|warehouse| (sku, warehouse)))
        .collect()
}

/// 黄浦区, Shanghai: where every buyer lives and every warehouse stands.
pub fn address() -> Address {
    Address {
        adcode: huangpu(),
        detail: AddressDetail::parse("南京东路1号").expect("a valid street"),
    }
}

fn huangpu() -> Adcode {
    Adcode::parse("310101000000").expect("黄浦区 is a known division")
}

/// The commands that build one shop: the shop, its warehouses, its product and SKUs, and the
/// starting stock of each row (`stock` gives the units per row).
pub fn shop_setup(id: ShopId, mut stock: impl FnMut() -> i64) -> Vec<Command> {
    let mut commands = vec![Command::from(CreateShop {
        id,
        name: ShopName::parse(&format!("模拟店铺 {id}")).expect("a valid name"),
        category: Default::default(),
    })];
    for warehouse in warehouses_of(id) {
        commands.push(Command::from(CreateWarehouse {
            id: warehouse,
            shop: id,
            name: WarehouseName::parse(&format!("仓 {warehouse}")).expect("a valid name"),
            location: huangpu(),
        }));
    }
    let skus = skus_of(id)
        .into_iter()
        .map(|sku| NewSku {
            id: sku,
            name: SkuName::parse(&format!("规格 {sku}")).expect("a valid name"),
            price: Fen::price(100 * (sku.get() % 7 + 1)).expect("a valid price"),
        })
        .collect();
    commands.push(Command::from(CreateProduct {
        id: ProductId::new(id.get()).expect("positive"),
        shop: id,
        title: ProductTitle::parse(&format!("商品 {id}")).expect("a valid title"),
        description: None,
        gtin: None,
        goods_class: None,
        skus,
    }));
    for (sku, warehouse) in rows_of(id) {
        commands.push(Command::from(SetStock {
            shop: id,
            sku,
            warehouse,
            available: stock(),
        }));
    }
    commands
}
