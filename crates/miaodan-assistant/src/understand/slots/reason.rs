//! Why the buyer wants money back, from the words buyers use. The first reason in the table
//! whose words appear wins: the specific ones (a wrong address, the no-reason window) come
//! before the broad ones (没收到, 不想要了).

use miaodan_domain::after_sales::Reason;

const REASONS: &[(Reason, &[&str])] = &[
    (
        Reason::WrongAddress,
        &[
            "地址写错",
            "地址填错",
            "写错地址",
            "填错地址",
            "地址错了",
            "wrong address",
            "address is wrong",
            "address was wrong",
        ],
    ),
    (
        Reason::NoReason,
        &[
            "七天无理由",
            "7天无理由",
            "无理由",
            "no reason",
            "without reason",
            "no-reason",
        ],
    ),
    (
        Reason::WrongItem,
        &[
            "发错",
            "错发",
            "发的不是",
            "不是我买的",
            "收到的不是",
            "少发",
            "漏发",
            "wrong item",
            "wrong product",
            "sent the wrong",
            "sent me the wrong",
            "not what i ordered",
            "wrong one",
        ],
    ),
    (
        Reason::NotAsDescribed,
        &[
            "描述不符",
            "货不对板",
            "跟图片不一样",
            "和图片不一样",
            "与图片不符",
            "色差",
            "和宣传的不一样",
            "not as described",
            "doesn't match the description",
            "different from the picture",
            "not like the picture",
            "looks different",
        ],
    ),
    (
        Reason::WrongSize,
        &[
            "尺码不对",
            "尺码不合适",
            "码数不对",
            "尺寸不对",
            "码不对",
            "size不对",
            "size不合适",
            "size错",
            "太大",
            "穿着不合适",
            "不合适",
            "穿不了",
            "dont fit",
            "don't fit",
            "doesn't fit",
            "doesnt fit",
            "too large",
            "too tight",
            "太小",
            "偏大",
            "偏小",
            "不合身",
            "穿不下",
            "wrong size",
            "too small",
            "too big",
            "too large",
            "too tight",
            "doesn't fit",
            "does not fit",
            "didn't fit",
        ],
    ),
    (
        Reason::ArrivedDamaged,
        &[
            "坏了",
            "破了",
            "碎了",
            "破损",
            "损坏",
            "压坏",
            "摔坏",
            "裂了",
            "裂的",
            "裂开",
            "有裂",
            "裂纹",
            "烂了",
            "漏了",
            "damaged",
            "broken",
            "cracked",
            "smashed",
            "crushed",
            "shattered",
        ],
    ),
    (
        Reason::QualityIssue,
        &[
            "质量问题",
            "质量差",
            "质量不好",
            "质量太差",
            "不好用",
            "不能用",
            "没声音",
            "充不进电",
            "掉色",
            "起球",
            "开线",
            "瑕疵",
            "quality",
            "defective",
            "doesn't work",
            "does not work",
            "don't work",
            "dont work",
            "not working",
            "stopped working",
            "faulty",
        ],
    ),
    (Reason::Lost, &["丢了", "丢件", "弄丢", "丢失", "lost"]),
    (
        Reason::NeverArrived,
        &[
            "一直没到",
            "not received",
            "hasn't arrived",
            "hasnt arrived",
            "still not here",
            "还没到",
            "没到货",
            "没送到",
            "收不到",
            "没收到货",
            "never arrived",
            "never received",
            "didn't receive",
            "never got",
            "didn't get",
            "did not get",
            "haven't received",
            "haven't got",
            "did not receive",
            "hasn't arrived",
            "has not arrived",
            "never came",
            "didn't arrive",
            "not received",
        ],
    ),
    (
        Reason::ChangedMind,
        &[
            "不想要",
            "不喜欢",
            "不太喜欢",
            "不怎么喜欢",
            "dont like",
            "dont want",
            "dont need",
            "no longer want",
            "拍错",
            "买错",
            "不需要了",
            "多拍",
            "changed my mind",
            "change my mind",
            "don't want",
            "do not want",
            "no longer need",
            "don't need",
            "by mistake",
            "don't like",
        ],
    ),
];

/// The reason in a normalised message.
pub fn reason(text: &str) -> Option<Reason> {
    REASONS
        .iter()
        .find(|(_, words)| words.iter().any(|w| text.contains(w)))
        .map(|(reason, _)| *reason)
        .or_else(|| never_received(text).then_some(Reason::NeverArrived))
}

/// 没收到 is the parcel, unless the money is what has not come: a refund, money, a code or a
/// coupon named next to it (within a few characters), not anywhere in the message ("一直没收到
/// 直接退钱吧" is a parcel that never came).
fn never_received(text: &str) -> bool {
    const NEAR_CHARS: usize = 3;
    let chars: Vec<char> = text.chars().collect();
    let said: Vec<usize> = (0..chars.len().saturating_sub(2))
        .filter(|&i| chars[i..i + 3] == ['没', '收', '到'])
        .collect();
    said.iter().any(|&at| {
        let from = at.saturating_sub(NEAR_CHARS);
        let to = (at + 3 + NEAR_CHARS).min(chars.len());
        let near: String = chars[from..to].iter().collect();
        !["款", "钱", "验证码", "短信", "券", "积分"]
            .iter()
            .any(|m| near.contains(m))
    })
}

#[cfg(test)]
mod tests {
    use super::reason;
    use miaodan_domain::after_sales::Reason;

    #[test]
    fn each_reason_is_read_in_both_languages() {
        let cases = [
            ("耳机坏了", Reason::ArrivedDamaged),
            ("杯子碎了", Reason::ArrivedDamaged),
            ("it arrived broken", Reason::ArrivedDamaged),
            ("质量太差了", Reason::QualityIssue),
            ("不好用", Reason::QualityIssue),
            ("poor quality", Reason::QualityIssue),
            ("they don't work", Reason::QualityIssue),
            ("和描述不符", Reason::NotAsDescribed),
            ("货不对板", Reason::NotAsDescribed),
            ("not as described", Reason::NotAsDescribed),
            ("发错了", Reason::WrongItem),
            ("you sent the wrong item", Reason::WrongItem),
            ("尺码不对", Reason::WrongSize),
            ("太小了", Reason::WrongSize),
            ("too small", Reason::WrongSize),
            ("不想要了", Reason::ChangedMind),
            ("拍错了", Reason::ChangedMind),
            ("I changed my mind", Reason::ChangedMind),
            ("没收到", Reason::NeverArrived),
            ("一直没到", Reason::NeverArrived),
            ("it never arrived", Reason::NeverArrived),
            ("快递丢了", Reason::Lost),
            ("the parcel is lost", Reason::Lost),
            ("地址写错了", Reason::WrongAddress),
            ("七天无理由退货", Reason::NoReason),
            ("return for no reason", Reason::NoReason),
        ];
        for (text, expected) in cases {
            assert_eq!(reason(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn a_refund_not_received_is_no_reason_about_the_parcel() {
        assert_eq!(reason("退款没收到"), None);
        assert_eq!(reason("还没收到退款"), None);
        assert_eq!(reason("我要退款"), None);
        assert_eq!(reason("不想等了 一直没收到 直接退钱吧"), Some(Reason::NeverArrived));
    }
}
