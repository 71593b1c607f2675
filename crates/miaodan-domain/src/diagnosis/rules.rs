//! The rules, one function each: each reads the [`History`], checks its minimum sample, and
//! compares one figure with the shop's baseline or its category's peers. Thresholds are the
//! constants below, so the README's table of rules and the tests read the same numbers.

use super::{Bilingual, Figure, Finding, History, Period, Rule, Severity, Unit, change_pct, per_key, rate_bps, total};

/// Fewer orders than this in either period and the shop's totals are not compared.
pub const ORDERS_SAMPLE_MIN: i64 = 50;
/// A province needs this many orders in both periods before its conversion is compared.
pub const PROVINCE_ORDERS_MIN: i64 = 30;
/// "Orders held": the current period placed at least this share (percent) of the baseline's.
pub const ORDERS_HELD_PCT: i64 = 80;
/// Paid conversion falling by this many percent (relative) is a warning …
pub const CONVERSION_DROP_PCT: i64 = 20;
/// … and by this many a critical finding.
pub const CONVERSION_DROP_CRITICAL_PCT: i64 = 40;
/// The expiry rate must rise by this many percent (relative) …
pub const EXPIRY_RISE_PCT: i64 = 50;
/// … and by at least this many basis points (absolute), so 1 % → 2 % is not a finding.
pub const EXPIRY_RISE_BPS: i64 = 500;
/// Paid orders (or paid units) a refund rate needs, for the shop and for its category alike.
pub const REFUND_SAMPLE_MIN: i64 = 50;
/// A refund rate this many times the category's …
pub const REFUND_MULTIPLE: i64 = 2;
/// … and at least this many basis points above it.
pub const REFUND_GAP_BPS: i64 = 200;
/// A SKU needs this many paid units in the period before it is compared.
pub const SKU_UNITS_MIN: i64 = 20;
/// A reason needs this many requests for the SKU in the period …
pub const REASON_REQUESTS_MIN: i64 = 5;
/// … and a rate this many times the category's rate for the same reason.
pub const REASON_MULTIPLE: i64 = 3;
/// Deliveries a warehouse needs in both periods before its late share is compared.
pub const LATE_SAMPLE_MIN: i64 = 30;
/// The late share must grow this many times (and count at least [`LATE_COUNT_MIN`] parcels).
pub const LATE_RATE_MULTIPLE: i64 = 2;
pub const LATE_COUNT_MIN: i64 = 5;
/// The SKUs with the most GMV in the period that count as top sellers.
pub const TOP_SELLERS: usize = 5;
/// Stock-outs on this many days of the period make a top seller's finding critical.
pub const STOCK_OUT_DAYS_CRITICAL: i64 = 3;
/// GMV falling by this many percent against the previous period is a warning …
pub const GMV_DROP_PCT: i64 = 20;
/// … and by this many a critical finding.
pub const GMV_DROP_CRITICAL_PCT: i64 = 40;
/// The shop's GMV change this many points below its category's is a finding.
pub const GMV_BEHIND_CATEGORY_PCT: i64 = 20;
/// Peers are compared only when the category has this many other shops: a category of one
/// other shop would show that shop's figures.
pub const PEER_SHOPS_MIN: i64 = 3;
/// Alerts still open at the end of the period that make a finding …
pub const ALERTS_OPEN_MIN: i64 = 1;
/// … and a critical one.
pub const ALERTS_OPEN_CRITICAL: i64 = 5;

pub(super) fn all(h: &History) -> Vec<Finding> {
    let mut findings = Vec::new();
    findings.extend(paid_conversion_fell(h));
    findings.extend(province_conversion_fell(h));
    findings.extend(expiry_rate_rose(h));
    findings.extend(refund_rate_above_category(h));
    findings.extend(sku_refund_rate_above_category(h));
    findings.extend(reason_above_category(h));
    findings.extend(late_deliveries_doubled(h));
    findings.extend(top_seller_stock_outs(h));
    findings.extend(gmv_fell(h));
    findings.extend(gmv_behind_category(h));
    findings.extend(alerts_left_open(h));
    findings
}

fn figure(name: &str, value: i64, unit: Unit) -> Figure {
    Figure {
        name: name.into(),
        value,
        unit,
    }
}

fn text(zh: String, en: String) -> Bilingual {
    Bilingual { zh, en }
}

/// A rate in basis points as a percent with two decimals ("12.34%").
fn pct(bps: i64) -> String {
    let sign = if bps < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}%", bps.abs() / 100, bps.abs() % 100)
}

/// Fen as yuan with two decimals ("¥1234.50").
fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}¥{}.{:02}", fen.abs() / 100, fen.abs() % 100)
}

fn peers_comparable(h: &History) -> bool {
    h.peer_shops >= PEER_SHOPS_MIN
}

/// Orders and paid orders of one period, for a conversion comparison.
#[derive(Clone, Copy)]
struct Conversion {
    orders: i64,
    paid: i64,
}

fn conversion_change(now: Conversion, before: Conversion, min: i64) -> Option<(i64, i64, i64)> {
    let sampled = now.orders >= min && before.orders >= min;
    let held = now.orders * 100 >= before.orders * ORDERS_HELD_PCT;
    if !sampled || !held {
        return None;
    }
    let (now_bps, before_bps) = (rate_bps(now.paid, now.orders), rate_bps(before.paid, before.orders));
    let change = change_pct(now_bps, before_bps);
    (change <= -CONVERSION_DROP_PCT).then_some((now_bps, before_bps, change))
}

fn conversion_figures(now: Conversion, before: Conversion, rates: (i64, i64, i64)) -> Vec<Figure> {
    vec![
        figure("current", rates.0, Unit::Bps),
        figure("baseline", rates.1, Unit::Bps),
        figure("change_pct", rates.2, Unit::Percent),
        figure("orders_current", now.orders, Unit::Count),
        figure("orders_baseline", before.orders, Unit::Count),
    ]
}

fn drop_severity(change: i64, critical_pct: i64) -> Severity {
    if change <= -critical_pct {
        Severity::Critical
    } else {
        Severity::Warning
    }
}

fn paid_conversion_fell(h: &History) -> Option<Finding> {
    let (now, before) = (total(&h.shop.totals, h.current), total(&h.shop.totals, h.baseline));
    let now = Conversion {
        orders: now.orders,
        paid: now.paid_orders,
    };
    let before = Conversion {
        orders: before.orders,
        paid: before.paid_orders,
    };
    let rates = conversion_change(now, before, ORDERS_SAMPLE_MIN)?;
    let (a, b, c) = (pct(rates.1), pct(rates.0), -rates.2);
    Some(Finding {
        rule: Rule::PaidConversionFell,
        severity: drop_severity(rates.2, CONVERSION_DROP_CRITICAL_PCT),
        subject: None,
        figures: conversion_figures(now, before, rates),
        message: text(
            format!(
                "订单量持平（{} → {} 单），支付转化率却从 {a} 降到 {b}，下降 {c}%。",
                before.orders, now.orders
            ),
            format!(
                "Orders held ({} → {}) but paid conversion fell from {a} to {b} ({c}% lower).",
                before.orders, now.orders
            ),
        ),
        action: text(
            "检查收银台与支付渠道（失败率、超时设置），并提醒未支付的买家。".into(),
            "Check the checkout and payment channels (failures, timeouts) and remind buyers of unpaid orders.".into(),
        ),
    })
}

fn province_conversion_fell(h: &History) -> Vec<Finding> {
    let (now, before) = (
        per_key(&h.shop.provinces, h.current),
        per_key(&h.shop.provinces, h.baseline),
    );
    let mut findings = Vec::new();
    for (province, n) in &now {
        let Some(b) = before.get(province) else { continue };
        let now = Conversion {
            orders: n.orders,
            paid: n.paid_orders,
        };
        let before = Conversion {
            orders: b.orders,
            paid: b.paid_orders,
        };
        let Some(rates) = conversion_change(now, before, PROVINCE_ORDERS_MIN) else {
            continue;
        };
        let (a, b, c) = (pct(rates.1), pct(rates.0), -rates.2);
        findings.push(Finding {
            rule: Rule::ProvinceConversionFell,
            severity: drop_severity(rates.2, CONVERSION_DROP_CRITICAL_PCT),
            subject: Some(province.clone()),
            figures: conversion_figures(now, before, rates),
            message: text(
                format!("{province} 的订单量持平，支付转化率却从 {a} 降到 {b}，下降 {c}%。"),
                format!("In {province} orders held but paid conversion fell from {a} to {b} ({c}% lower)."),
            ),
            action: text(
                format!("查看发往 {province} 的仓库库存与承诺送达时间：缺货或送达过慢常让买家放弃支付。"),
                format!(
                    "Check stock and delivery promises of the warehouses serving {province}: stock-outs or \
                     slow promises make buyers abandon payment."
                ),
            ),
        });
    }
    findings
}

fn expiry_rate_rose(h: &History) -> Option<Finding> {
    let (now, before) = (total(&h.shop.totals, h.current), total(&h.shop.totals, h.baseline));
    if now.orders < ORDERS_SAMPLE_MIN || before.orders < ORDERS_SAMPLE_MIN {
        return None;
    }
    let (now_bps, before_bps) = (
        rate_bps(now.expired_orders, now.orders),
        rate_bps(before.expired_orders, before.orders),
    );
    let rose = now_bps - before_bps >= EXPIRY_RISE_BPS
        && (before_bps == 0 || change_pct(now_bps, before_bps) >= EXPIRY_RISE_PCT);
    if !rose {
        return None;
    }
    let (a, b) = (pct(before_bps), pct(now_bps));
    Some(Finding {
        rule: Rule::ExpiryRateRose,
        severity: Severity::Warning,
        subject: None,
        figures: vec![
            figure("current", now_bps, Unit::Bps),
            figure("baseline", before_bps, Unit::Bps),
            figure("change_pct", change_pct(now_bps, before_bps), Unit::Percent),
            figure("expired_current", now.expired_orders, Unit::Count),
            figure("orders_current", now.orders, Unit::Count),
        ],
        message: text(
            format!("超时未支付而取消的订单占比从 {a} 升到 {b}。"),
            format!("The share of orders expiring unpaid rose from {a} to {b}."),
        ),
        action: text(
            "在支付期限前提醒买家，检查支付期限是否过短、收银台是否出错。".into(),
            "Remind buyers before the payment deadline; check whether the deadline is too short or checkout fails."
                .into(),
        ),
    })
}

fn refund_rate_above_category(h: &History) -> Option<Finding> {
    if !peers_comparable(h) {
        return None;
    }
    let (shop, peers) = (total(&h.shop.totals, h.current), total(&h.peers.totals, h.current));
    if shop.paid_orders < REFUND_SAMPLE_MIN || peers.paid_orders < REFUND_SAMPLE_MIN {
        return None;
    }
    let (shop_bps, peers_bps) = (
        rate_bps(shop.refunds, shop.paid_orders),
        rate_bps(peers.refunds, peers.paid_orders),
    );
    let above = refund_gap(shop_bps, peers_bps, REFUND_MULTIPLE)?;
    let (a, b) = (pct(shop_bps), pct(peers_bps));
    Some(Finding {
        rule: Rule::RefundRateAboveCategory,
        severity: if above >= 2 * REFUND_MULTIPLE * 100 {
            Severity::Critical
        } else {
            Severity::Warning
        },
        subject: None,
        figures: vec![
            figure("current", shop_bps, Unit::Bps),
            figure("peers", peers_bps, Unit::Bps),
            figure("multiple_pct", above, Unit::Percent),
            figure("refunds_current", shop.refunds, Unit::Count),
            figure("paid_orders_current", shop.paid_orders, Unit::Count),
        ],
        message: text(
            format!(
                "退款率 {a}，是同类目店铺平均水平（{b}）的 {}.{:02} 倍。",
                above / 100,
                above % 100
            ),
            format!(
                "The refund rate is {a}, {}.{:02}× the category's ({b}).",
                above / 100,
                above % 100
            ),
        ),
        action: text(
            "按商品与原因查看退款，核对商品描述、尺码表与发货质量。".into(),
            "Look at refunds by SKU and reason; check descriptions, size charts and what is shipped.".into(),
        ),
    })
}

/// How many times (in percent) `shop_bps` is `peers_bps`, when it is at least `multiple` times
/// and [`REFUND_GAP_BPS`] above it; a category without refunds is not compared.
fn refund_gap(shop_bps: i64, peers_bps: i64, multiple: i64) -> Option<i64> {
    let fires = peers_bps > 0 && shop_bps >= multiple * peers_bps && shop_bps - peers_bps >= REFUND_GAP_BPS;
    fires.then(|| shop_bps * 100 / peers_bps)
}

fn sku_refund_rate_above_category(h: &History) -> Vec<Finding> {
    if !peers_comparable(h) {
        return Vec::new();
    }
    let mut peers = super::SkuDay::default();
    for figures in per_key(&h.peers.skus, h.current).values() {
        super::Tally::add(&mut peers, figures);
    }
    if peers.paid_units < REFUND_SAMPLE_MIN {
        return Vec::new();
    }
    let peers_bps = rate_bps(peers.refunds, peers.paid_units);
    let mut findings = Vec::new();
    for (sku, s) in per_key(&h.shop.skus, h.current) {
        if s.paid_units < SKU_UNITS_MIN {
            continue;
        }
        let shop_bps = rate_bps(s.refunds, s.paid_units);
        let Some(above) = refund_gap(shop_bps, peers_bps, REFUND_MULTIPLE) else {
            continue;
        };
        let (a, b, m) = (
            pct(shop_bps),
            pct(peers_bps),
            format!("{}.{:02}", above / 100, above % 100),
        );
        findings.push(Finding {
            rule: Rule::SkuRefundRateAboveCategory,
            severity: Severity::Warning,
            subject: Some(sku.clone()),
            figures: vec![
                figure("current", shop_bps, Unit::Bps),
                figure("peers", peers_bps, Unit::Bps),
                figure("multiple_pct", above, Unit::Percent),
                figure("refunds_current", s.refunds, Unit::Count),
                figure("paid_units_current", s.paid_units, Unit::Count),
            ],
            message: text(
                format!("{sku} 的退款率为 {a}，是同类目（{b}）的 {m} 倍。"),
                format!("{sku}'s refund rate is {a}, {m}× the category's ({b})."),
            ),
            action: text(
                format!("检查 {sku} 的描述、图片与质量，必要时暂停推广。"),
                format!("Check {sku}'s description, pictures and quality; pause promoting it if needed."),
            ),
        });
    }
    findings
}

/// Requests per reason over the category's paid units, in basis points.
fn peer_reason_rates(h: &History) -> Option<std::collections::BTreeMap<String, i64>> {
    let mut paid_units = 0;
    for figures in per_key(&h.peers.skus, h.current).values() {
        paid_units += figures.paid_units;
    }
    if !peers_comparable(h) || paid_units < REFUND_SAMPLE_MIN {
        return None;
    }
    let mut requested = std::collections::BTreeMap::<String, i64>::new();
    for ((_, reason, day), figures) in &h.peers.after_sales {
        if h.current.contains(*day) {
            *requested.entry(reason.clone()).or_default() += figures.requested;
        }
    }
    Some(
        requested
            .into_iter()
            .map(|(reason, n)| (reason, rate_bps(n, paid_units)))
            .collect(),
    )
}

fn reason_above_category(h: &History) -> Vec<Finding> {
    let Some(peer_rates) = peer_reason_rates(h) else {
        return Vec::new();
    };
    let skus = per_key(&h.shop.skus, h.current);
    let mut requested = std::collections::BTreeMap::<(String, String), i64>::new();
    for ((sku, reason, day), figures) in &h.shop.after_sales {
        if h.current.contains(*day) {
            *requested.entry((sku.clone(), reason.clone())).or_default() += figures.requested;
        }
    }
    let mut findings = Vec::new();
    for ((sku, reason), n) in requested {
        let paid_units = skus.get(&sku).map_or(0, |s| s.paid_units);
        let peers_bps = peer_rates.get(&reason).copied().unwrap_or(0);
        if n < REASON_REQUESTS_MIN || paid_units < SKU_UNITS_MIN || peers_bps == 0 {
            continue;
        }
        let shop_bps = rate_bps(n, paid_units);
        if shop_bps < REASON_MULTIPLE * peers_bps {
            continue;
        }
        let multiple = shop_bps * 100 / peers_bps;
        let m = format!("{}.{:02}", multiple / 100, multiple % 100);
        findings.push(Finding {
            rule: Rule::ReasonAboveCategory,
            severity: Severity::Warning,
            subject: Some(format!("{sku} · {reason}")),
            figures: vec![
                figure("current", shop_bps, Unit::Bps),
                figure("peers", peers_bps, Unit::Bps),
                figure("multiple_pct", multiple, Unit::Percent),
                figure("requests_current", n, Unit::Count),
                figure("paid_units_current", paid_units, Unit::Count),
            ],
            message: text(
                format!(
                    "{sku} 以“{reason}”为由的售后申请是同类目的 {m} 倍（{} 对 {}）。",
                    pct(shop_bps),
                    pct(peers_bps)
                ),
                format!(
                    "After-sales requests with reason '{reason}' are {m}× the category for {sku} ({} vs {}).",
                    pct(shop_bps),
                    pct(peers_bps)
                ),
            ),
            action: text(
                format!("针对“{reason}”改进 {sku}：例如补充尺码表、实拍图或包装。"),
                format!("Address '{reason}' for {sku}: a size chart, real photos or better packing, say."),
            ),
        });
    }
    findings
}

fn late_deliveries_doubled(h: &History) -> Vec<Finding> {
    let (now, before) = (
        per_key(&h.shop.warehouses, h.current),
        per_key(&h.shop.warehouses, h.baseline),
    );
    let mut findings = Vec::new();
    for (warehouse, n) in &now {
        let Some(b) = before.get(warehouse) else { continue };
        if n.delivered < LATE_SAMPLE_MIN || b.delivered < LATE_SAMPLE_MIN || n.delivered_late < LATE_COUNT_MIN {
            continue;
        }
        let (now_bps, before_bps) = (
            rate_bps(n.delivered_late, n.delivered),
            rate_bps(b.delivered_late, b.delivered),
        );
        if now_bps < LATE_RATE_MULTIPLE * before_bps {
            continue;
        }
        let (a, c) = (pct(before_bps), pct(now_bps));
        findings.push(Finding {
            rule: Rule::LateDeliveriesDoubled,
            severity: if now_bps >= 2_000 {
                Severity::Critical
            } else {
                Severity::Warning
            },
            subject: Some(warehouse.clone()),
            figures: vec![
                figure("current", now_bps, Unit::Bps),
                figure("baseline", before_bps, Unit::Bps),
                figure("change_pct", change_pct(now_bps, before_bps), Unit::Percent),
                figure("late_current", n.delivered_late, Unit::Count),
                figure("delivered_current", n.delivered, Unit::Count),
            ],
            message: text(
                format!("{warehouse} 的延迟送达占比从 {a} 升到 {c}，至少翻了一倍。"),
                format!("Late deliveries from {warehouse} rose from {a} to {c}: at least doubled."),
            ),
            action: text(
                format!("检查 {warehouse} 的产能、截单时间与承运商，必要时把订单分到其他仓。"),
                format!(
                    "Check {warehouse}'s capacity, cutoff and carrier; route orders to other warehouses if needed."
                ),
            ),
        });
    }
    findings
}

fn top_seller_stock_outs(h: &History) -> Vec<Finding> {
    let skus = per_key(&h.shop.skus, h.current);
    let mut ranked: Vec<(&String, &super::SkuDay)> = skus.iter().filter(|(_, s)| s.units >= SKU_UNITS_MIN).collect();
    ranked.sort_by(|a, b| b.1.gmv_fen.cmp(&a.1.gmv_fen).then(a.0.cmp(b.0)));
    let mut findings = Vec::new();
    for (rank, (sku, s)) in ranked.into_iter().take(TOP_SELLERS).enumerate() {
        if s.stock_outs == 0 {
            continue;
        }
        let days = stock_out_days(h, sku);
        let rank = rank as i64 + 1;
        findings.push(Finding {
            rule: Rule::TopSellerStockOuts,
            severity: if days >= STOCK_OUT_DAYS_CRITICAL {
                Severity::Critical
            } else {
                Severity::Warning
            },
            subject: Some(sku.to_string()),
            figures: vec![
                figure("rank", rank, Unit::Count),
                figure("stock_outs", s.stock_outs, Unit::Count),
                figure("stock_out_days", days, Unit::Count),
                figure("gmv_fen", s.gmv_fen, Unit::Fen),
                figure("units", s.units, Unit::Count),
            ],
            message: text(
                format!(
                    "销售额第 {rank} 的 {sku} 有 {days} 天缺货（{} 次售罄），本期销售额 {}。",
                    s.stock_outs,
                    yuan(s.gmv_fen)
                ),
                format!(
                    "{sku}, top seller no. {rank} ({}), sold out {} times on {days} days.",
                    yuan(s.gmv_fen),
                    s.stock_outs
                ),
            ),
            action: text(
                format!("为 {sku} 补货或在仓间调拨，并在直播前核对库存。"),
                format!("Restock {sku} or move stock between warehouses; check stock before each live stream."),
            ),
        });
    }
    findings
}

fn stock_out_days(h: &History, sku: &str) -> i64 {
    h.shop
        .skus
        .iter()
        .filter(|((key, day), s)| key == sku && h.current.contains(*day) && s.stock_outs > 0)
        .count() as i64
}

fn gmv_fell(h: &History) -> Option<Finding> {
    let (now, before) = (total(&h.shop.totals, h.current), total(&h.shop.totals, h.baseline));
    if before.orders < ORDERS_SAMPLE_MIN {
        return None;
    }
    let change = change_pct(now.gmv_fen, before.gmv_fen);
    if change > -GMV_DROP_PCT {
        return None;
    }
    let (a, b, c) = (yuan(before.gmv_fen), yuan(now.gmv_fen), -change);
    Some(Finding {
        rule: Rule::GmvFell,
        severity: drop_severity(change, GMV_DROP_CRITICAL_PCT),
        subject: None,
        figures: vec![
            figure("current", now.gmv_fen, Unit::Fen),
            figure("baseline", before.gmv_fen, Unit::Fen),
            figure("change_pct", change, Unit::Percent),
        ],
        message: text(
            format!("成交额从上期的 {a} 降到 {b}，下降 {c}%。"),
            format!("GMV fell from {a} to {b} against the previous period ({c}% lower)."),
        ),
        action: text(
            "对比各省、各商品的变化找出下降来源，检查直播排期与活动。".into(),
            "Compare provinces and SKUs to find where it fell; check the live-stream schedule and promotions.".into(),
        ),
    })
}

fn gmv_behind_category(h: &History) -> Option<Finding> {
    if !peers_comparable(h) {
        return None;
    }
    let trend = |series: &std::collections::BTreeMap<_, super::ShopDay>| {
        let (now, before) = (total(series, h.current), total(series, h.baseline));
        (before.orders >= ORDERS_SAMPLE_MIN).then(|| change_pct(now.gmv_fen, before.gmv_fen))
    };
    let (shop, peers) = (trend(&h.shop.totals)?, trend(&h.peers.totals)?);
    if shop > peers - GMV_BEHIND_CATEGORY_PCT {
        return None;
    }
    Some(Finding {
        rule: Rule::GmvBehindCategory,
        severity: Severity::Warning,
        subject: None,
        figures: vec![
            figure("change_pct", shop, Unit::Percent),
            figure("peers_change_pct", peers, Unit::Percent),
            figure("gap_pct", shop - peers, Unit::Percent),
        ],
        message: text(
            format!(
                "成交额变化 {shop:+}%，同类目店铺为 {peers:+}%，落后 {} 个百分点。",
                peers - shop
            ),
            format!(
                "GMV changed {shop:+}% while the category changed {peers:+}%: {} points behind.",
                peers - shop
            ),
        ),
        action: text(
            "对比同类目的价格与活动节奏，检查流量来源是否下降。".into(),
            "Compare prices and promotions with the category; check whether traffic sources fell.".into(),
        ),
    })
}

fn alerts_left_open(h: &History) -> Vec<Finding> {
    let everything = Period {
        first: crate::time::shanghai::LocalDate::from_days_since_epoch(0),
        days: h.current.end().days_since_epoch(),
    };
    let mut findings = Vec::new();
    for (warehouse, w) in per_key(&h.shop.warehouses, everything) {
        let open = w.alerts_raised - w.alerts_resolved;
        if open < ALERTS_OPEN_MIN {
            continue;
        }
        findings.push(Finding {
            rule: Rule::AlertsLeftOpen,
            severity: if open >= ALERTS_OPEN_CRITICAL {
                Severity::Critical
            } else {
                Severity::Warning
            },
            subject: Some(warehouse.clone()),
            figures: vec![
                figure("open", open, Unit::Count),
                figure("raised", w.alerts_raised, Unit::Count),
                figure("resolved", w.alerts_resolved, Unit::Count),
            ],
            message: text(
                format!("{warehouse} 有 {open} 条预警在本期结束时仍未处理。"),
                format!("{open} alerts at {warehouse} were still open at the end of the period."),
            ),
            action: text(
                format!("处理 {warehouse} 的未结预警（缺货、延迟、异常包裹）。"),
                format!("Work through {warehouse}'s open alerts (shortages, delays, exceptions)."),
            ),
        });
    }
    findings
}
