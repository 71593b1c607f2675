//! What the assistant knows of a buyer when a message arrives: the shell reads it (the buyer's
//! own orders only) and hands it over; the dialogue never reads anything else.

use miaodan_domain::after_sales::request::AfterSalesRequest;
use miaodan_domain::flash_sale::FlashSale;
use miaodan_domain::fulfillment::promise::DeliveryOption;
use miaodan_domain::ids::AfterSalesId;
use miaodan_domain::logistics::Shipment;
use miaodan_domain::orders::{Address, Order};
use miaodan_domain::{Fen, OrderId, SkuId, Timestamp};

/// The buyer's world at the moment of a message.
#[derive(Clone, Debug)]
pub struct Facts {
    pub now: Timestamp,
    /// The buyer's orders, newest first (a bounded number of the newest).
    pub orders: Vec<OrderFacts>,
    /// Flash sales running now or starting soon, with what this buyer holds of each.
    pub sales: Vec<SaleFacts>,
    /// Where the buyer's orders go when none is named.
    pub default_address: Option<Address>,
    /// What the platform can promise now for a product the buyer asks about and has not ordered,
    /// to the default address (read only when a message asks: [`super::Conversation::options_wanted`]).
    pub options: Vec<ProductOptions>,
}

/// The delivery options of one unit of a SKU to the buyer's default address, now.
#[derive(Clone, Debug)]
pub struct ProductOptions {
    pub sku: SkuId,
    pub title: String,
    pub options: Vec<DeliveryOption>,
}

/// One of the buyer's orders and everything that happened to it.
#[derive(Clone, Debug)]
pub struct OrderFacts {
    pub order: Order,
    pub shop_name: String,
    /// The title of each line's SKU, in the order's line order.
    pub titles: Vec<String>,
    /// The order's parcels, with their tracking events.
    pub parcels: Vec<Shipment>,
    /// The order's after-sales requests, oldest first.
    pub requests: Vec<(AfterSalesId, AfterSalesRequest)>,
    /// The other SKUs on sale of the products the order holds: what an exchange may ask for.
    pub siblings: Vec<Sibling>,
}

/// Another SKU of a product the buyer ordered.
#[derive(Clone, Debug)]
pub struct Sibling {
    /// The SKU of the order it is a sibling of.
    pub of: SkuId,
    pub sku: SkuId,
    pub title: String,
    pub price: Fen,
}

/// A flash sale as a buyer asks about it.
#[derive(Clone, Debug)]
pub struct SaleFacts {
    pub sale: FlashSale,
    pub title: String,
    /// Units of the sale this buyer holds (unpaid or paid orders).
    pub held: i64,
}

impl Facts {
    pub fn order(&self, id: OrderId) -> Option<&OrderFacts> {
        self.orders.iter().find(|o| o.order.id == id)
    }
}

impl OrderFacts {
    /// "#12 蓝牙耳机 Pro ×2" — how the assistant names an order to the buyer.
    pub fn label(&self) -> String {
        let mut label = format!("#{}", self.order.id);
        for (line, title) in self.order.lines.iter().zip(&self.titles).take(2) {
            label.push_str(&format!(" {title} ×{}", line.quantity.get()));
        }
        if self.order.lines.len() > 2 {
            label.push_str(" …");
        }
        label
    }

    /// The earliest time a carrier had any parcel of the order.
    pub fn picked_up_at(&self) -> Option<Timestamp> {
        self.parcels.iter().filter_map(|p| p.picked_up_at).min()
    }

    /// When the last parcel was delivered, once all were.
    pub fn delivered_at(&self) -> Option<Timestamp> {
        if self.parcels.is_empty() || self.parcels.iter().any(|p| p.delivered_at.is_none()) {
            return None;
        }
        self.parcels.iter().filter_map(|p| p.delivered_at).max()
    }

    /// An after-sales request on the order still being worked on.
    pub fn open_request(&self) -> Option<&(AfterSalesId, AfterSalesRequest)> {
        self.requests.iter().rev().find(|(_, r)| !r.is_settled())
    }
}
