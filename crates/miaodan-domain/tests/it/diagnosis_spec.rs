//! Diagnosis rules as a table: for each rule, a constructed history in which it fires (with the
//! figures it must report) and near-miss histories in which it does not, every other rule
//! staying quiet in both.

use miaodan_domain::diagnosis::rules::{PEER_SHOPS_MIN, TOP_SELLERS};
use miaodan_domain::diagnosis::{
    AfterSalesDay, History, Period, RegionDay, Rule, Severity, ShopDay, SkuDay, WarehouseDay, change_pct, diagnose,
};
use miaodan_domain::time::shanghai::LocalDate;

fn first_day() -> LocalDate {
    LocalDate::from_ymd(2026, 11, 23).expect("a date")
}

/// Day `n` of the report's week (0–6) or, negative, of the week before (−7 to −1).
fn day(n: i32) -> LocalDate {
    first_day().plus_days(n)
}

/// A steady shop: 100 orders a week, 90 paid, ¥1 000 GMV, 2 expired, 2 refunds; a category of
/// three peers doing the same at ten times the volume.
fn steady() -> History {
    let mut h = History::new(Period {
        first: first_day(),
        days: 7,
    });
    let week = ShopDay {
        orders: 100,
        units: 120,
        gmv_fen: 100_000,
        paid_orders: 90,
        paid_fen: 90_000,
        expired_orders: 2,
        refunds: 2,
        refunded_fen: 2_000,
    };
    for at in [-7, 0] {
        h.shop.totals.insert(day(at), week);
        h.peers.totals.insert(
            day(at),
            ShopDay {
                orders: 1_000,
                gmv_fen: 1_000_000,
                paid_orders: 900,
                refunds: 20,
                ..week
            },
        );
        h.peers.skus.insert(
            ("peer sku".into(), day(at)),
            SkuDay {
                units: 1_000,
                paid_units: 1_000,
                gmv_fen: 1_000_000,
                refunds: 20,
                ..SkuDay::default()
            },
        );
        h.peers.after_sales.insert(
            ("peer sku".into(), "size".into(), day(at)),
            AfterSalesDay {
                requested: 10,
                ..AfterSalesDay::default()
            },
        );
    }
    h.peer_shops = PEER_SHOPS_MIN;
    h
}

fn with_totals(at: i32, change: impl Fn(&mut ShopDay)) -> History {
    let mut h = steady();
    change(h.shop.totals.get_mut(&day(at)).expect("a steady day"));
    h
}

fn province(h: &mut History, name: &str, at: i32, orders: i64, paid_orders: i64) {
    h.shop.provinces.insert(
        (name.into(), day(at)),
        RegionDay {
            orders,
            paid_orders,
            ..RegionDay::default()
        },
    );
}

fn provinces(now: (i64, i64), before: (i64, i64)) -> History {
    let mut h = steady();
    province(&mut h, "广东", -7, before.0, before.1);
    province(&mut h, "广东", 0, now.0, now.1);
    h
}

fn sku(h: &mut History, name: &str, at: i32, figures: SkuDay) {
    h.shop.skus.insert((name.into(), day(at)), figures);
}

fn sku_refunds(paid_units: i64, refunds: i64) -> History {
    let mut h = steady();
    sku(
        &mut h,
        "SKU 12",
        0,
        SkuDay {
            units: paid_units,
            paid_units,
            gmv_fen: 100 * paid_units,
            refunds,
            ..SkuDay::default()
        },
    );
    h
}

fn reason(requested: i64) -> History {
    let mut h = sku_refunds(50, 1);
    h.shop.after_sales.insert(
        ("SKU 12".into(), "size".into(), day(2)),
        AfterSalesDay {
            requested,
            ..AfterSalesDay::default()
        },
    );
    h
}

fn late(now_late: i64) -> History {
    let mut h = steady();
    for (at, delivered_late) in [(-7, 5), (0, now_late)] {
        h.shop.warehouses.insert(
            ("成都仓".into(), day(at)),
            WarehouseDay {
                delivered: 100,
                delivered_late,
                ..WarehouseDay::default()
            },
        );
    }
    h
}

/// Six SKUs selling 60…10 units at ¥1 each, of which `sold_out` had stock-outs on `days` days.
fn stock_outs(sold_out: &str, days: i32) -> History {
    let mut h = steady();
    for (rank, units) in (0..=TOP_SELLERS as i64).map(|r| (r + 1, 60 - 10 * r)) {
        let name = format!("SKU {rank}");
        for at in 0..days.max(1) {
            let outs = if name == sold_out && at < days { 1 } else { 0 };
            let share = if at == 0 { units } else { 0 };
            sku(
                &mut h,
                &name,
                at,
                SkuDay {
                    units: share,
                    gmv_fen: 100 * share,
                    stock_outs: outs,
                    ..SkuDay::default()
                },
            );
        }
    }
    h
}

fn peers_gmv(shop_now_fen: i64) -> History {
    let mut h = with_totals(0, |d| d.gmv_fen = shop_now_fen);
    h.peers.totals.get_mut(&day(0)).expect("a peer day").gmv_fen = 1_100_000;
    h
}

fn alerts(raised: i64, resolved: i64) -> History {
    let mut h = steady();
    h.shop.warehouses.insert(
        ("广州仓".into(), day(-3)),
        WarehouseDay {
            alerts_raised: raised,
            ..WarehouseDay::default()
        },
    );
    h.shop.warehouses.insert(
        ("广州仓".into(), day(4)),
        WarehouseDay {
            alerts_resolved: resolved,
            ..WarehouseDay::default()
        },
    );
    h
}

/// The rules that fired, with their subjects, in the report's order.
type Fired = Vec<(Rule, Option<String>)>;

fn fired(h: &History) -> Fired {
    diagnose(h).into_iter().map(|f| (f.rule, f.subject)).collect()
}

#[test]
fn each_rule_fires_on_its_history_and_stays_quiet_on_the_near_misses() {
    let none: Fired = Vec::new();
    let shop = |rule| vec![(rule, None)];
    let about = |rule, subject: &str| vec![(rule, Some(subject.to_string()))];
    #[rustfmt::skip]
    let table: Vec<(&str, History, Fired)> = vec![
        ("a steady shop", steady(), none.clone()),
        ("conversion 90 % → 60 %, orders held", with_totals(0, |d| d.paid_orders = 60), shop(Rule::PaidConversionFell)),
        ("conversion 90 % → 76 %: 16 % lower", with_totals(0, |d| d.paid_orders = 76), none.clone()),
        ("conversion fell with the orders", with_totals(0, |d| { d.orders = 70; d.paid_orders = 40; d.gmv_fen = 90_000 }), none.clone()),
        ("conversion fell on 45 orders", { let mut h = with_totals(0, |d| { d.orders = 45; d.paid_orders = 20 }); h.shop.totals.get_mut(&day(-7)).expect("day").orders = 45; h }, none.clone()),
        ("广东 90 % → 50 %", provinces((40, 20), (40, 36)), about(Rule::ProvinceConversionFell, "广东")),
        ("广东 on 20 orders", provinces((20, 5), (20, 18)), none.clone()),
        ("expiry 2 % → 10 %", with_totals(0, |d| d.expired_orders = 10), shop(Rule::ExpiryRateRose)),
        ("expiry 2 % → 6 %", with_totals(0, |d| d.expired_orders = 6), none.clone()),
        ("refunds 10 % against the category's 2.22 %", with_totals(0, |d| d.refunds = 9), shop(Rule::RefundRateAboveCategory)),
        ("refunds 3.33 %: under twice the category's", with_totals(0, |d| d.refunds = 3), none.clone()),
        ("refunds 10 % with too few peers", { let mut h = with_totals(0, |d| d.refunds = 9); h.peer_shops = PEER_SHOPS_MIN - 1; h }, none.clone()),
        ("SKU 12 refunds 10 % against 2 %", sku_refunds(50, 5), about(Rule::SkuRefundRateAboveCategory, "SKU 12")),
        ("SKU 12 refunds on 10 units", sku_refunds(10, 5), none.clone()),
        ("size requests 12 % against 1 %", reason(6), about(Rule::ReasonAboveCategory, "SKU 12 · size")),
        ("4 size requests", reason(4), none.clone()),
        ("成都仓 late 5 % → 12 %", late(12), about(Rule::LateDeliveriesDoubled, "成都仓")),
        ("成都仓 late 5 % → 9 %", late(9), none.clone()),
        ("top seller SKU 1 sold out", stock_outs("SKU 1", 1), about(Rule::TopSellerStockOuts, "SKU 1")),
        ("sixth seller SKU 6 sold out", stock_outs("SKU 6", 1), none.clone()),
        ("GMV ¥1 000 → ¥700 while the category grew 10 %", peers_gmv(70_000), vec![(Rule::GmvFell, None), (Rule::GmvBehindCategory, None)]),
        ("GMV ¥1 000 → ¥850: 15 % lower, 25 points behind", peers_gmv(85_000), shop(Rule::GmvBehindCategory)),
        ("GMV ¥1 000 → ¥950: 15 points behind", peers_gmv(95_000), none.clone()),
        ("广州仓 has 2 alerts open", alerts(3, 1), about(Rule::AlertsLeftOpen, "广州仓")),
        ("广州仓 resolved its alerts", alerts(2, 2), none.clone()),
    ];
    for (case, history, expected) in table {
        assert_eq!(fired(&history), expected, "{case}");
    }
}

#[test]
fn a_finding_carries_the_figures_it_was_made_of() {
    let findings = diagnose(&with_totals(0, |d| d.paid_orders = 60));
    let f = &findings[0];
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.figure("current"), Some(6_000));
    assert_eq!(f.figure("baseline"), Some(9_000));
    assert_eq!(f.figure("change_pct"), Some(change_pct(6_000, 9_000)));
    assert_eq!(f.figure("orders_current"), Some(100));
    assert!(
        f.message.zh.contains("90.00%") && f.message.zh.contains("60.00%"),
        "{}",
        f.message.zh
    );
    assert!(f.message.en.contains("from 90.00% to 60.00%"), "{}", f.message.en);
    assert!(!f.action.zh.is_empty() && !f.action.en.is_empty());
}

#[test]
fn a_reason_finding_names_the_sku_the_reason_and_how_many_times_the_category_it_is() {
    let findings = diagnose(&reason(6));
    let f = &findings[0];
    assert_eq!((f.figure("current"), f.figure("peers")), (Some(1_200), Some(100)));
    assert_eq!(f.figure("multiple_pct"), Some(1_200));
    assert!(
        f.message
            .en
            .contains("reason 'size' are 12.00× the category for SKU 12"),
        "{}",
        f.message.en
    );
}

#[test]
fn a_deeper_fall_is_critical_and_findings_list_the_most_severe_first() {
    let mut h = with_totals(0, |d| {
        d.paid_orders = 45;
        d.expired_orders = 10;
    });
    province(&mut h, "广东", -7, 40, 36);
    province(&mut h, "广东", 0, 40, 25);
    let findings = diagnose(&h);
    let order: Vec<(Rule, Severity)> = findings.iter().map(|f| (f.rule, f.severity)).collect();
    assert_eq!(
        order,
        vec![
            (Rule::PaidConversionFell, Severity::Critical),
            (Rule::ProvinceConversionFell, Severity::Warning),
            (Rule::ExpiryRateRose, Severity::Warning),
        ]
    );
}

#[test]
fn a_top_seller_sold_out_on_three_days_is_critical() {
    let findings = diagnose(&stock_outs("SKU 2", 3));
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].severity, Severity::Critical);
    assert_eq!(findings[0].figure("stock_out_days"), Some(3));
    assert_eq!(findings[0].figure("rank"), Some(2));
}

#[test]
fn figures_outside_the_two_periods_are_not_read() {
    let mut h = steady();
    h.shop.totals.insert(
        day(-8),
        ShopDay {
            orders: 1_000,
            gmv_fen: 10_000_000,
            ..ShopDay::default()
        },
    );
    h.shop.totals.insert(
        day(7),
        ShopDay {
            orders: 1_000,
            ..ShopDay::default()
        },
    );
    assert_eq!(fired(&h), Vec::new());
}

#[test]
fn rule_codes_are_stable_and_parse_back() {
    let codes: Vec<&str> = Rule::ALL.iter().map(|r| r.code()).collect();
    assert_eq!(
        codes,
        [
            "paid_conversion_fell",
            "province_paid_conversion_fell",
            "unpaid_expiry_rate_rose",
            "refund_rate_above_category",
            "sku_refund_rate_above_category",
            "after_sales_reason_above_category",
            "late_deliveries_doubled",
            "top_seller_stock_outs",
            "gmv_fell_vs_previous_period",
            "gmv_behind_category_trend",
            "alerts_left_open",
        ]
    );
    for rule in Rule::ALL {
        assert_eq!(Rule::parse(rule.code()), Some(rule));
    }
}
