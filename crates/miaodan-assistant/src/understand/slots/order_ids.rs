//! Order ids: a number is an order id only where the message says so — `#12`, `订单12`,
//! `订单号12`, `12号订单`, `order 12`, `order #12`, `no. 12`. A price (¥129, 129元), a
//! quantity (2件) or a date is never one, and neither is a number alone (that is an ordinal
//! or an answer; the dialogue decides).

use regex::Regex;
use std::sync::LazyLock;

static ORDER_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?:^|[^0-9a-z&])#\s*([0-9]+)",
        r"|订单(?:号|编号)?\s*(?:是|为|:)?\s*#?\s*([0-9]+)",
        r"|(?:单号|编号)\s*(?:是|为|:)?\s*([0-9]+)",
        r"|\border\s*(?:no\.?|number|num|id)?\s*(?:is\s*)?[:#]?\s*([0-9]+)",
        r"|\bno\.\s*([0-9]+)",
        r"|([0-9]+)\s*号(?:订单|单)",
    ))
    .expect("the order id pattern is valid")
});

/// Units after which a number is a price or a quantity, not an order id.
const NOT_AN_ID_AFTER: &[&str] = &[
    "元", "块", "件", "个", "双", "天", "%", "号码", "pieces", "piece", "items", "item", "pcs", "yuan", "rmb", "days",
];

/// The order ids in a normalised message, in order, each once.
pub fn order_ids(text: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for captures in ORDER_ID.captures_iter(text) {
        let Some(number) = captures.iter().skip(1).flatten().next() else {
            continue;
        };
        let after = text[number.end()..].trim_start();
        if NOT_AN_ID_AFTER.iter().any(|unit| after.starts_with(unit)) {
            continue;
        }
        match number.as_str().parse::<i64>() {
            Ok(id) if !out.contains(&id) => out.push(id),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::order_ids;

    #[test]
    fn the_ways_buyers_write_an_order_id_are_read() {
        for text in [
            "#12到哪了",
            "订单12还没发货",
            "订单号12",
            "订单号:12",
            "12号订单呢",
            "where is order 12",
            "order #12 please",
            "order no. 12",
            "no. 12 hasn't arrived",
            "my order number is 12",
        ] {
            assert_eq!(order_ids(text), [12], "{text}");
        }
    }

    #[test]
    fn prices_quantities_and_dates_are_not_order_ids() {
        for text in [
            "¥129的耳机",
            "129元",
            "买了2件",
            "12月1日买的",
            "it cost 129 yuan",
            "3天前",
            "2",
        ] {
            assert_eq!(order_ids(text), Vec::<i64>::new(), "{text}");
        }
    }

    #[test]
    fn several_orders_are_read_in_order_once_each() {
        assert_eq!(order_ids("#12 和 #15, 还有订单12"), [12, 15]);
    }
}
