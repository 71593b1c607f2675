//! What came of an action, told to the buyer: only what the platform decided.

use super::{Conversation, say};
use crate::understand::Lang;
use miaodan_domain::OrderId;
use miaodan_domain::after_sales::RequestKind;
use miaodan_domain::after_sales::request::{AfterSalesRequest, Stage};
use miaodan_domain::ids::AfterSalesId;

/// The answer the flows gave to an action.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// The unpaid order is cancelled.
    Cancelled { order: OrderId },
    /// The request is open (or already settled by the rules).
    Opened {
        id: AfterSalesId,
        request: Box<AfterSalesRequest>,
        /// The rules that fired, explained: `(zh, en)`.
        rules: Vec<(String, String)>,
    },
    /// Refused, nothing changed: the stable code, and the reasons `(zh, en)`.
    Refused {
        code: String,
        reasons: Vec<(String, String)>,
    },
    /// Not carried out for a passing reason (the order changed meanwhile, a store outage):
    /// nothing changed, the buyer may ask again.
    Failed,
}

impl Conversation {
    /// The answer to the buyer once the shell carried out the turn's action.
    pub fn acted(&mut self, outcome: &Outcome) -> String {
        let lang = self.lang.unwrap_or(Lang::Zh);
        match outcome {
            Outcome::Cancelled { order } => say::either(
                lang,
                || format!("订单 #{order} 已取消，没有扣款，商品已放回库存。"),
                || format!("Order #{order} is cancelled; nothing was charged and the goods went back on sale."),
            ),
            Outcome::Opened { id, request, rules } => opened(lang, *id, request, rules),
            Outcome::Refused { code, reasons } => {
                let why = reasons_text(lang, reasons);
                say::either(
                    lang,
                    || format!("这个申请没有通过（{code}）：{why} 订单没有任何改变。"),
                    || format!("That wasn't accepted ({code}): {why} Nothing about the order changed."),
                )
            }
            Outcome::Failed => say::pick(
                lang,
                "抱歉，刚才没能办成，订单没有任何改变，请稍后再试一次。",
                "Sorry, that didn't go through and nothing changed; please try again in a moment.",
            )
            .into(),
        }
    }
}

fn reasons_text(lang: Lang, reasons: &[(String, String)]) -> String {
    reasons
        .iter()
        .map(|(zh, en)| match lang {
            Lang::Zh => zh.as_str(),
            Lang::En => en.as_str(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn opened(lang: Lang, id: AfterSalesId, request: &AfterSalesRequest, rules: &[(String, String)]) -> String {
    let kind = say::kind(lang, request.kind);
    let next = next_step(lang, request);
    let why = reasons_text(lang, rules);
    say::either(
        lang,
        || {
            let why = if why.is_empty() {
                String::new()
            } else {
                format!("（{why}）")
            };
            format!("已为订单 #{} 提交{kind}申请 #{id}。{next}{why}", request.order)
        },
        || {
            let why = if why.is_empty() {
                String::new()
            } else {
                format!(" ({why})")
            };
            format!(
                "I've opened {kind} request #{id} on order #{}. {next}{why}",
                request.order
            )
        },
    )
}

/// What happens next to a request just opened, by the stage the rules put it in.
fn next_step(lang: Lang, request: &AfterSalesRequest) -> String {
    let amount = say::yuan(request.amount);
    match (request.stage, request.kind) {
        (Stage::Closed, RequestKind::ChangeAddress) => say::pick(
            lang,
            "地址已经改好，订单会按新地址重新安排发货。",
            "The address is changed; the order is dispatched again for it.",
        )
        .to_string(),
        (Stage::Approved, RequestKind::ChangeAddress) => say::pick(
            lang,
            "已同意，正在通知快递改派到新地址。",
            "Approved: the carrier is being told the new address.",
        )
        .to_string(),
        (Stage::Refunding | Stage::Approved, _) if request.amount.get() > 0 => say::either(
            lang,
            || format!("已同意，{amount} 正在原路退回，一般 1–3 个工作日到账。"),
            || {
                format!(
                    "Approved: {amount} is on its way back to where you paid from, usually within 1–3 working days."
                )
            },
        ),
        (Stage::Refunded, _) => say::either(
            lang,
            || format!("已退款 {amount}，原路退回。"),
            || format!("Refunded {amount} to where you paid from."),
        ),
        (Stage::AwaitingReturn { expires_at }, _) => say::either(
            lang,
            || {
                format!(
                    "已同意，请在北京时间 {} 前寄回商品；可以上门取件的话会为你预约，快递揽收后即退款。",
                    say::at(lang, expires_at)
                )
            },
            || {
                format!(
                    "Approved: please send the goods back by {} (Beijing time); a pickup is booked where the carrier offers one, and the refund follows the carrier's first scan.",
                    say::at(lang, expires_at)
                )
            },
        ),
        (Stage::WithMerchant { due_at }, _) => say::either(
            lang,
            || {
                format!(
                    "已提交给商家，商家需在北京时间 {} 前答复，逾期视为同意。",
                    say::at(lang, due_at)
                )
            },
            || {
                format!(
                    "It's with the merchant, who must answer by {} (Beijing time); silence counts as yes.",
                    say::at(lang, due_at)
                )
            },
        ),
        (stage, _) => stage.as_str().to_string(),
    }
}
