//! Questions answered at once from the facts: where a parcel is, when it arrives, what
//! happened to a payment or a refund, a flash sale's stock and limit, and small talk.

use super::facts::{OrderFacts, SaleFacts};
use super::resolve::{self, Mention};
use super::{Heard, Turn, say};
use crate::understand::{Intent, Lang};
use miaodan_domain::OrderId;
use miaodan_domain::after_sales::request::Stage;
use miaodan_domain::logistics::ShipmentState;
use miaodan_domain::orders::OrderState;
use miaodan_domain::time::shanghai::{DAY_MS, LocalDate};

/// Hours without a tracking event after which a parcel counts as stalled.
pub const STALLED_AFTER_HOURS: i64 = 48;

pub fn answer(intent: Intent, heard: &Heard<'_>, focus: &Option<OrderId>, turn: &mut Turn) {
    let lang = heard.lang;
    turn.reply = match intent {
        Intent::Track | Intent::Arrival | Intent::Payment | Intent::RefundStatus => {
            return about_orders(intent, heard, *focus, turn);
        }
        Intent::FlashSale => flash_sale(heard, turn),
        Intent::Coupons => say::pick(
            lang,
            "目前平台还没有优惠券和积分，价格以商品页和直播间显示的为准。",
            "There are no coupons or points on the platform yet; the price is the one shown on the product page and in the live room.",
        )
        .into(),
        Intent::Greeting => say::pick(lang, "你好！请问有什么可以帮你？", "Hello! How can I help?").into(),
        Intent::Thanks => say::pick(lang, "不客气，还有其他问题随时找我。", "You're welcome — I'm here any time.").into(),
        Intent::Goodbye => say::pick(lang, "好的，祝你购物愉快，再见！", "Bye, and happy shopping!").into(),
        _ => say::pick(lang, say::NOT_UNDERSTOOD_ZH, say::NOT_UNDERSTOOD_EN).into(),
    };
}

/// The orders a question names, or the one talked about, or those the question fits.
fn about_orders(intent: Intent, heard: &Heard<'_>, focus: Option<OrderId>, turn: &mut Turn) {
    let lang = heard.lang;
    let facts = heard.facts;
    if let Some(product) = facts.options.first().filter(|_| intent == Intent::Arrival) {
        turn.reply = options(lang, facts, product, turn.understanding.slots.today);
        return;
    }
    let named = match resolve::named(&turn.understanding.slots, facts, heard.vocabulary, &[]) {
        Ok(named) => named,
        Err(id) => {
            turn.reply = say::either(
                lang,
                || format!("在你的订单里没有找到订单 #{id}，请核对订单号。"),
                || format!("I can't find order #{id} among your orders; please check the number."),
            );
            return;
        }
    };
    let orders: Vec<&OrderFacts> = if !named.is_empty() {
        named.iter().filter_map(|id| facts.order(*id)).collect()
    } else if let Some(order) = focus.and_then(|f| facts.order(f)) {
        vec![order]
    } else {
        match intent {
            Intent::Payment => facts.orders.iter().take(1).collect(),
            Intent::RefundStatus => facts.orders.iter().filter(|o| refund_requests(o) > 0).take(3).collect(),
            _ => resolve::in_flight(facts),
        }
    };
    if orders.is_empty() {
        turn.reply = say::pick(
            lang,
            "你目前没有相关的订单。",
            "You have no order this is about right now.",
        )
        .into();
        return;
    }
    if orders.len() == 1 {
        turn.order = Some(orders[0].order.id);
    }
    let today = turn.understanding.slots.today;
    let lines: Vec<String> = orders
        .iter()
        .take(resolve::LIST_MAX)
        .map(|o| match intent {
            Intent::Track => track(lang, heard, o),
            Intent::Arrival => arrival(lang, heard, o, today),
            Intent::Payment => payment(lang, o),
            _ => refund(lang, o),
        })
        .collect();
    turn.reply = lines.join("\n");
}

fn track(lang: Lang, heard: &Heard<'_>, o: &OrderFacts) -> String {
    let label = o.label();
    let Some(parcel) = o.parcels.iter().max_by_key(|p| p.last_movement_at) else {
        return say::either(
            lang,
            || {
                format!(
                    "订单 {label}：{}，还没有交给快递。",
                    say::order_state(lang, o.order.state)
                )
            },
            || {
                format!(
                    "Order {label}: {}, not yet with a carrier.",
                    say::order_state(lang, o.order.state)
                )
            },
        );
    };
    let mut text = match parcel.events.last() {
        Some(event) => {
            let place = event
                .location
                .as_ref()
                .map(|l| format!(" · {}", l.as_str()))
                .unwrap_or_default();
            let at = say::at(lang, event.occurred_at);
            let state = say::parcel_state(lang, event.state);
            say::either(
                lang,
                || {
                    format!(
                        "订单 {label}：{state}（北京时间 {at}{place}），运单号 {}。",
                        parcel.waybill.as_str()
                    )
                },
                || {
                    format!(
                        "Order {label}: {state} ({at} Beijing time{place}), waybill {}.",
                        parcel.waybill.as_str()
                    )
                },
            )
        }
        None => say::either(
            lang,
            || {
                format!(
                    "订单 {label}：{}，运单号 {}。",
                    say::parcel_state(lang, parcel.state),
                    parcel.waybill.as_str()
                )
            },
            || {
                format!(
                    "Order {label}: {}, waybill {}.",
                    say::parcel_state(lang, parcel.state),
                    parcel.waybill.as_str()
                )
            },
        ),
    };
    text.push_str(&promise_note(lang, heard, o, true));
    text
}

/// The promise, and whether it is at risk: a stalled parcel, or one past its promise.
fn promise_note(lang: Lang, heard: &Heard<'_>, o: &OrderFacts, with_promise: bool) -> String {
    if o.order.state == OrderState::Delivered {
        return match o.delivered_at() {
            Some(at) => say::either(
                lang,
                || format!("已于 {} 签收。", say::at(lang, at)),
                || format!(" Delivered {}.", say::at(lang, at)),
            ),
            None => String::new(),
        };
    }
    let now = heard.facts.now;
    let stalled = o
        .parcels
        .iter()
        .filter(|p| p.picked_up_at.is_some() && p.delivered_at.is_none())
        .map(|p| now.unix_ms() - p.last_movement_at.unix_ms())
        .max()
        .filter(|idle| *idle >= STALLED_AFTER_HOURS * 3_600_000);
    let promised = o.order.promise.as_ref().map(|p| p.promised_by);
    let mut note = String::new();
    if let Some(by) = promised.filter(|_| with_promise) {
        let at = say::at(lang, by);
        note.push_str(&say::either(
            lang,
            || format!("承诺 {at} 前送达。"),
            || format!(" Promised by {at}."),
        ));
    }
    if let Some(idle) = stalled {
        let days = idle / DAY_MS;
        note.push_str(&say::either(
            lang,
            || format!("包裹已 {days} 天没有物流更新，可能延误了。你可以申请仅退款，或让我转人工帮你催。"),
            || format!(" The parcel hasn't moved for {days} day(s) and may be late. You can ask for a refund only, or I can pass you to a person to chase it."),
        ));
    } else if promised.is_some_and(|by| by.unix_ms() < now.unix_ms()) {
        note.push_str(say::pick(
            lang,
            "已超过承诺时间，有延误风险。",
            " It is past its promise and running late.",
        ));
    }
    note
}

fn arrival(lang: Lang, heard: &Heard<'_>, o: &OrderFacts, today: bool) -> String {
    let label = o.label();
    if o.order.state == OrderState::Delivered {
        return track(lang, heard, o);
    }
    let out_for_delivery = o.parcels.iter().any(|p| p.state == ShipmentState::OutForDelivery);
    let Some(promise) = o.order.promise.as_ref() else {
        return track(lang, heard, o);
    };
    let by = promise.promised_by;
    let mut text = say::either(
        lang,
        || format!("订单 {label} 承诺北京时间 {} 前送达。", say::at(lang, by)),
        || format!("Order {label} is promised by {} (Beijing time).", say::at(lang, by)),
    );
    if today {
        let arrives_today = out_for_delivery || LocalDate::of(by) <= LocalDate::of(heard.facts.now);
        text.push_str(match (arrives_today, out_for_delivery) {
            (_, true) => say::pick(
                lang,
                "包裹正在派送中，今天就能到。",
                " It is out for delivery and should arrive today.",
            ),
            (true, false) => say::pick(lang, "按承诺今天送达。", " By its promise, it arrives today."),
            (false, false) => say::pick(
                lang,
                "今天到不了，请以承诺时间为准。",
                " It won't arrive today; its promise stands.",
            ),
        });
    }
    text.push_str(&promise_note(lang, heard, o, false));
    text
}

fn payment(lang: Lang, o: &OrderFacts) -> String {
    let label = o.label();
    let total = say::yuan(o.order.total);
    match (o.order.state, o.order.paid_at) {
        (OrderState::PendingPayment, _) => {
            let due = say::at(lang, o.order.payment_due_at);
            say::either(
                lang,
                || {
                    format!(
                        "订单 {label}（{total}）还没付款，请在北京时间 {due} 前完成支付，超时会自动取消，不会扣款。"
                    )
                },
                || {
                    format!(
                        "Order {label} ({total}) isn't paid yet: pay before {due} (Beijing time) or it is cancelled automatically; nothing has been charged."
                    )
                },
            )
        }
        (OrderState::Cancelled, None) => say::either(
            lang,
            || format!("订单 {label} 在付款前已取消，没有扣款。"),
            || format!("Order {label} was cancelled before payment; nothing was charged."),
        ),
        (_, Some(at)) => {
            let at = say::at(lang, at);
            say::either(
                lang,
                || format!("订单 {label} 已于北京时间 {at} 付款 {total}，只扣了一次款。"),
                || format!("Order {label}: {total} paid at {at} (Beijing time), charged once."),
            )
        }
        (_, None) => say::either(
            lang,
            || format!("订单 {label}：{}。", say::order_state(lang, o.order.state)),
            || format!("Order {label}: {}.", say::order_state(lang, o.order.state)),
        ),
    }
}

fn refund_requests(o: &OrderFacts) -> usize {
    o.requests.iter().filter(|(_, r)| r.amount.get() > 0).count()
}

fn refund(lang: Lang, o: &OrderFacts) -> String {
    let label = o.label();
    let Some((id, request)) = o.requests.iter().rev().find(|(_, r)| r.amount.get() > 0) else {
        return say::either(
            lang,
            || format!("订单 {label} 没有退款申请。"),
            || format!("Order {label} has no refund request."),
        );
    };
    let amount = say::yuan(request.amount);
    let kind = say::kind(lang, request.kind);
    let stage = match request.stage {
        Stage::Refunded => say::pick(
            lang,
            "已退款，原路退回，一般 1–3 个工作日到账",
            "refunded to where you paid from; it usually shows within 1–3 working days",
        )
        .to_string(),
        Stage::Refunding | Stage::Approved => {
            say::pick(lang, "已同意，正在退款", "approved, being refunded").to_string()
        }
        Stage::WithMerchant { due_at } => say::either(
            lang,
            || format!("等待商家处理，商家需在 {} 前答复，逾期自动同意", say::at(lang, due_at)),
            || {
                format!(
                    "with the merchant, who must answer by {} or it is approved",
                    say::at(lang, due_at)
                )
            },
        ),
        Stage::AwaitingReturn { expires_at } => say::either(
            lang,
            || format!("等待你寄回商品（{} 前）", say::at(lang, expires_at)),
            || {
                format!(
                    "waiting for you to send the goods back (by {})",
                    say::at(lang, expires_at)
                )
            },
        ),
        Stage::ReturnInTransit => say::pick(
            lang,
            "退货包裹在路上，收到后退款",
            "the return parcel is on its way; the refund follows",
        )
        .to_string(),
        Stage::Received => say::pick(
            lang,
            "商家已收到退货，正在验货",
            "the shop has the goods back and is inspecting them",
        )
        .to_string(),
        Stage::Refused { .. } => say::pick(
            lang,
            "商家拒绝了，你可以申请平台介入",
            "refused by the merchant; you can ask the platform to step in",
        )
        .to_string(),
        _ => request.stage.as_str().to_string(),
    };
    say::either(
        lang,
        || format!("订单 {label} 的{kind}申请 #{id}（{amount}）：{stage}。"),
        || format!("Order {label}, {kind} request #{id} ({amount}): {stage}."),
    )
}

fn flash_sale(heard: &Heard<'_>, turn: &Turn) -> String {
    let lang = heard.lang;
    let sales = &heard.facts.sales;
    let named: Vec<&SaleFacts> = heard
        .vocabulary
        .mentions(&turn.understanding.slots)
        .into_iter()
        .filter_map(|m| match m {
            Mention::Sale(i) => sales.get(i),
            _ => None,
        })
        .collect();
    let chosen: Vec<&SaleFacts> = if named.is_empty() {
        sales.iter().take(3).collect()
    } else {
        named.into_iter().take(1).collect()
    };
    if chosen.is_empty() {
        return say::pick(
            lang,
            "现在没有进行中或即将开始的秒杀。",
            "There is no flash sale on or starting soon.",
        )
        .into();
    }
    chosen
        .iter()
        .map(|s| sale(lang, heard, s))
        .collect::<Vec<_>>()
        .join("\n")
}

fn sale(lang: Lang, heard: &Heard<'_>, s: &SaleFacts) -> String {
    let now = heard.facts.now;
    let title = &s.title;
    let price = say::yuan(s.sale.price);
    let limit = s.sale.per_buyer_limit;
    if now < s.sale.starts_at {
        let at = say::at(lang, s.sale.starts_at);
        return say::either(
            lang,
            || format!("「{title}」秒杀价 {price}，北京时间 {at} 开始，每人限购 {limit} 件。"),
            || format!("\"{title}\" at {price} starts at {at} (Beijing time), at most {limit} per buyer."),
        );
    }
    if now >= s.sale.ends_at || s.sale.closed {
        return say::either(
            lang,
            || format!("「{title}」的秒杀已经结束了。"),
            || format!("The flash sale of \"{title}\" has ended."),
        );
    }
    let left = s.sale.remaining;
    let mut text = if left > 0 {
        say::either(
            lang,
            || format!("「{title}」秒杀进行中，{price}，还剩 {left} 件，每人限购 {limit} 件。"),
            || format!("\"{title}\" is on at {price}: {left} left, at most {limit} per buyer."),
        )
    } else {
        say::either(
            lang,
            || format!("「{title}」已经抢光了。有人超时未付款时会放回库存，可以稍后再看看。"),
            || {
                format!(
                    "\"{title}\" is sold out. Units come back when someone doesn't pay in time, so check again later."
                )
            },
        )
    };
    if s.held >= limit {
        text.push_str(&say::either(
            lang,
            || format!("你已经拿到 {} 件，达到每人限购，所以会提示“limit reached”。", s.held),
            || {
                format!(
                    " You already hold {}, the per-buyer limit — that's why it says \"limit reached\".",
                    s.held
                )
            },
        ));
    }
    text
}

/// What the platform can promise for a product not yet ordered, to the default address.
fn options(lang: Lang, facts: &super::Facts, product: &super::ProductOptions, today: bool) -> String {
    let title = &product.title;
    if product.options.is_empty() {
        return say::either(
            lang,
            || format!("「{title}」目前送不到你的默认地址（或暂时无货）。"),
            || format!("\"{title}\" can't be delivered to your default address right now (or is out of stock)."),
        );
    }
    let now = LocalDate::of(facts.now);
    let lines: Vec<String> = product
        .options
        .iter()
        .map(|o| {
            let level = say::service_level(lang, o.level);
            let by = say::at(lang, o.promised_by);
            let cutoff = say::at(lang, o.cutoff_at);
            say::either(
                lang,
                || {
                    format!(
                        "· {level}（{}）：{cutoff} 前下单，{by} 前送达，运费 {}",
                        o.carrier.as_str(),
                        say::yuan(o.price)
                    )
                },
                || {
                    format!(
                        "· {level} ({}): order by {cutoff}, delivered by {by}, shipping {}",
                        o.carrier.as_str(),
                        say::yuan(o.price)
                    )
                },
            )
        })
        .collect();
    let mut text = say::either(
        lang,
        || format!("「{title}」送到你的默认地址（北京时间）：\n{}", lines.join("\n")),
        || {
            format!(
                "\"{title}\" to your default address (Beijing time):\n{}",
                lines.join("\n")
            )
        },
    );
    if today {
        let arrives_today = product.options.iter().any(|o| LocalDate::of(o.promised_by) == now);
        text.push_str(match arrives_today {
            true => say::pick(
                lang,
                "\n按上面的截单时间下单，今天就能送到。",
                "\nOrdered by the cutoff above, it arrives today.",
            ),
            false => say::pick(
                lang,
                "\n今天下单今天送不到，最快见上面。",
                "\nIt can't arrive today; the fastest is above.",
            ),
        });
    }
    text
}
