//! Merchant integrity beyond the quality index: fake-stock verdicts per ended sale, broken
//! promises, penalties' life (appeal once, decide, expire), what a penalty forbids, and the
//! deposit ledger that never goes negative.

use miaodan_domain::integrity::fake_stock::*;
use miaodan_domain::integrity::penalty::*;
use miaodan_domain::integrity::promises::*;
use miaodan_domain::{Fen, Timestamp};
use proptest::prelude::*;

fn at(hours: i64) -> Timestamp {
    Timestamp::from_unix_ms(1_796_000_000_000 + hours * 3_600_000)
}

fn sold(units_sold: i64, short: i64, cancelled: i64, waiting: i64) -> SaleFigures {
    SaleFigures {
        units_announced: units_sold,
        units_sold,
        units_reported_short: short,
        units_shop_cancelled: cancelled,
        units_never_dispatched: waiting,
        units_short: short + cancelled + waiting,
        ..SaleFigures::default()
    }
}

/// A sale of `announced` units, all shipped, whose merchant added `added` units in the day
/// before it and removed `removed` in the day after.
fn moved_around(announced: i64, added: i64, removed: i64) -> SaleFigures {
    SaleFigures {
        units_announced: announced,
        units_sold: announced / 2,
        units_added_before: added,
        units_removed_after: removed,
        ..SaleFigures::default()
    }
}

// ---- fake stock ----------------------------------------------------------------------------

#[test]
fn a_sale_whose_units_all_shipped_is_clean() {
    let assessed = assess_sale(&sold(1_000, 0, 0, 0));
    assert_eq!(assessed.verdict, Verdict::Clean);
    assert!(assessed.findings.iter().all(|f| f.verdict == Verdict::Clean));
    assert_eq!(assessed.summary.en, "No sign of announced stock that was not there");
}

#[test]
fn each_signal_is_judged_against_its_row_of_the_threshold_table() {
    // (signal units of 1 000 sold, signal, verdict)
    let cases = [
        (29, Signal::ShortageAfterSale, Verdict::Clean),
        (30, Signal::ShortageAfterSale, Verdict::Suspicious),
        (150, Signal::ShortageAfterSale, Verdict::FakeStock),
        (30, Signal::ShopCancelled, Verdict::Suspicious),
        (149, Signal::ShopCancelled, Verdict::Suspicious),
        (150, Signal::ShopCancelled, Verdict::FakeStock),
        (49, Signal::NeverDispatched, Verdict::Clean),
        (50, Signal::NeverDispatched, Verdict::Suspicious),
        (250, Signal::NeverDispatched, Verdict::FakeStock),
    ];
    for (units, signal, verdict) in cases {
        let figures = match signal {
            Signal::ShortageAfterSale => sold(1_000, units, 0, 0),
            Signal::ShopCancelled => sold(1_000, 0, units, 0),
            Signal::NeverDispatched => sold(1_000, 0, 0, units),
            Signal::StockPulledAfterSale => moved_around(1_000, units, units),
        };
        let assessed = assess_sale(&figures);
        let finding = assessed
            .findings
            .iter()
            .find(|f| f.signal == signal)
            .expect("every signal is judged");
        assert_eq!(finding.verdict, verdict, "{units} units {signal:?}");
        assert_eq!(assessed.verdict, verdict, "the sale's verdict is its worst finding's");
    }
}

#[test]
fn a_couple_of_lost_units_in_a_small_sale_accuse_no_one() {
    // 2 of 10 is 20 %, but under the units a verdict needs.
    assert_eq!(assess_sale(&sold(10, 2, 0, 0)).verdict, Verdict::Clean);
    assert_eq!(assess_sale(&sold(10, 2, 1, 0)).verdict, Verdict::FakeStock);
}

#[test]
fn a_finding_explains_itself_in_both_languages_with_its_figures() {
    let assessed = assess_sale(&sold(400, 60, 0, 0));
    let finding = &assessed.findings[0];
    assert_eq!(
        finding.message.en,
        "60 of 400 units sold were reported short after the sale (15.0 %)"
    );
    assert_eq!(finding.message.zh, "已售 400 件中 60 件售后报缺货（15.0%）");
    let figures: Vec<(&str, i64)> = finding.figures.iter().map(|f| (f.name.as_str(), f.value)).collect();
    assert_eq!(
        figures,
        vec![
            ("units", 60),
            ("share_of_sold", 1_500),
            ("suspicious_at", 300),
            ("fake_stock_at", 1_500)
        ]
    );
}

#[test]
fn the_thresholds_are_ordered_and_listed_in_signal_order() {
    let signals: Vec<Signal> = SIGNAL_THRESHOLDS.iter().map(|t| t.signal).collect();
    assert_eq!(
        signals,
        vec![
            Signal::ShortageAfterSale,
            Signal::ShopCancelled,
            Signal::NeverDispatched,
            Signal::StockPulledAfterSale
        ]
    );
    for t in SIGNAL_THRESHOLDS {
        assert!(0 < t.suspicious_bps && t.suspicious_bps < t.fake_stock_bps, "{t:?}");
    }
}

#[test]
fn stock_added_before_a_sale_and_removed_after_it_is_judged_as_a_share_of_the_units_announced() {
    // (added before, removed after, verdict) for a sale of 100 units announced.
    let cases = [
        (0, 0, Verdict::Clean),
        (100, 0, Verdict::Clean),
        (0, 100, Verdict::Clean),
        (19, 100, Verdict::Clean),
        (20, 100, Verdict::Suspicious),
        (100, 20, Verdict::Suspicious),
        (100, 49, Verdict::Suspicious),
        (50, 80, Verdict::FakeStock),
        (100, 100, Verdict::FakeStock),
    ];
    for (added, removed, verdict) in cases {
        let assessed = assess_sale(&moved_around(100, added, removed));
        let finding = assessed
            .findings
            .iter()
            .find(|f| f.signal == Signal::StockPulledAfterSale)
            .expect("every signal is judged");
        assert_eq!(finding.verdict, verdict, "{added} added, {removed} removed");
        assert_eq!(assessed.verdict, verdict, "the sale's verdict is its worst finding's");
    }
}

#[test]
fn a_recount_of_a_few_units_around_a_small_sale_accuses_no_one() {
    // 9 of 20 is 45 %, but under the units the signal needs.
    assert_eq!(assess_sale(&moved_around(20, 9, 9)).verdict, Verdict::Clean);
    assert_eq!(assess_sale(&moved_around(20, 10, 10)).verdict, Verdict::FakeStock);
}

#[test]
fn stock_pulled_after_a_sale_explains_itself_in_both_languages_with_its_figures() {
    let assessed = assess_sale(&moved_around(200, 150, 120));
    let finding = assessed
        .findings
        .iter()
        .find(|f| f.signal == Signal::StockPulledAfterSale)
        .expect("every signal is judged");
    assert_eq!(finding.signal.code(), "stock_pulled_after_sale");
    assert_eq!(
        finding.message.en,
        "120 of 200 units announced were added in the 24 h before the sale and removed in the 24 h after it (60.0 %)"
    );
    assert_eq!(
        finding.message.zh,
        "宣称 200 件中 120 件为开售前 24 小时内补入、结束后 24 小时内撤下的库存（60.0%）"
    );
    let figures: Vec<(&str, i64)> = finding.figures.iter().map(|f| (f.name.as_str(), f.value)).collect();
    assert_eq!(
        figures,
        vec![
            ("units", 120),
            ("units_added_before", 150),
            ("units_removed_after", 120),
            ("share_of_announced", 6_000),
            ("suspicious_at", 2_000),
            ("fake_stock_at", 5_000)
        ]
    );
    assert_eq!(
        assessed.summary.en,
        "120 units were added just before the sale and removed just after it: the sale announced stock that was not there to sell"
    );
    assert_eq!(assessed.summary.zh, "120 件库存开售前补入、结束后撤下：库存虚标");
}

#[test]
fn a_sale_judged_by_its_orders_keeps_the_orders_summary_when_stock_was_also_pulled() {
    let mut figures = sold(400, 60, 0, 0);
    (figures.units_added_before, figures.units_removed_after) = (100, 100);
    let assessed = assess_sale(&figures);
    assert_eq!(assessed.verdict, Verdict::FakeStock);
    assert_eq!(
        assessed.summary.en,
        "60 units sold were not fulfilled: the sale announced stock it did not have"
    );
}

proptest! {
    #[test]
    fn more_stock_added_before_or_removed_after_never_reads_cleaner(
        announced in 1i64..2_000, added in 0i64..2_000, removed in 0i64..2_000, more in 0i64..500, which in 0u8..2,
    ) {
        let less = assess_sale(&moved_around(announced, added, removed));
        let worse = if which == 0 {
            moved_around(announced, added + more, removed)
        } else {
            moved_around(announced, added, removed + more)
        };
        prop_assert!(assess_sale(&worse).verdict >= less.verdict);
    }

    #[test]
    fn more_units_short_never_reads_cleaner(sold_units in 1i64..5_000, a in 0i64..500, b in 0i64..500, more in 0i64..500) {
        let (a, b) = (a.min(sold_units), b.min(sold_units));
        let less = assess_sale(&sold(sold_units, a, b, 0));
        let worse = assess_sale(&sold(sold_units, (a + more).min(sold_units), b, 0));
        prop_assert!(worse.verdict >= less.verdict);
    }
}

// ---- broken promises -----------------------------------------------------------------------

#[test]
fn a_group_misses_each_target_it_breaks_in_the_order_checked() {
    let figures = PromiseFigures {
        shipped: 100,
        delivered: 100,
        delivered_late: 6,
        late_pickups: 3,
        alerts_raised: 4,
        alerts_unresolved: 1,
    };
    let assessed = assess(&figures);
    assert_eq!(assessed.promise_kept_bps, Some(9_400));
    assert_eq!(
        assessed.broken,
        vec![Broken::PromisesMissed, Broken::LatePickups, Broken::AlertsLeftOpen]
    );
    assert_eq!(assessed.explanations.len(), 3);
    let kept = assess(&PromiseFigures {
        shipped: 100,
        delivered: 100,
        delivered_late: 5,
        late_pickups: 2,
        ..PromiseFigures::default()
    });
    assert!(kept.broken.is_empty(), "{kept:?}");
}

#[test]
fn a_group_with_nothing_delivered_has_no_promise_kept_rate() {
    let assessed = assess(&PromiseFigures {
        shipped: 10,
        ..PromiseFigures::default()
    });
    assert_eq!((assessed.promise_kept_bps, assessed.broken), (None, vec![]));
}

// ---- penalties -----------------------------------------------------------------------------

fn penalty(kind: PenaltyKind, state: PenaltyState) -> Penalty {
    Penalty { kind, state }
}

#[test]
fn a_penalty_is_appealed_once_while_in_force_then_decided() {
    let warning = penalty(PenaltyKind::Warning, PenaltyState::InForce);
    assert_eq!(warning.appeal(at(0)), Ok(PenaltyState::Appealed));
    assert_eq!(
        warning.decide(Decision::Uphold, at(0)),
        Err(PenaltyRefusal::NotDecidable)
    );
    let appealed = penalty(PenaltyKind::Warning, PenaltyState::Appealed);
    assert_eq!(appealed.appeal(at(0)), Err(PenaltyRefusal::NotAppealable));
    assert_eq!(appealed.decide(Decision::Uphold, at(0)), Ok(PenaltyState::Upheld));
    assert_eq!(appealed.decide(Decision::Revoke, at(0)), Ok(PenaltyState::Revoked));
    for decided in [PenaltyState::Upheld, PenaltyState::Revoked] {
        let p = penalty(PenaltyKind::Warning, decided);
        assert_eq!(p.appeal(at(0)), Err(PenaltyRefusal::NotAppealable), "{decided:?}");
        assert_eq!(
            p.decide(Decision::Revoke, at(0)),
            Err(PenaltyRefusal::NotDecidable),
            "{decided:?}"
        );
    }
}

#[test]
fn an_operator_may_revoke_a_penalty_no_one_appealed() {
    let cap = penalty(PenaltyKind::FlashUnitsCap { units: 5 }, PenaltyState::InForce);
    assert_eq!(cap.decide(Decision::Revoke, at(0)), Ok(PenaltyState::Revoked));
}

#[test]
fn a_suspension_expires_by_time_and_then_is_neither_appealed_nor_decided() {
    let suspension = penalty(PenaltyKind::NewSalesSuspended { until: at(24) }, PenaltyState::Appealed);
    assert_eq!(suspension.state_at(at(23)), PenaltyState::Appealed);
    assert_eq!(suspension.state_at(at(24)), PenaltyState::Expired);
    assert!(!suspension.bites_at(at(24)));
    assert_eq!(
        suspension.decide(Decision::Uphold, at(25)),
        Err(PenaltyRefusal::NotDecidable)
    );
    let revoked = penalty(PenaltyKind::NewSalesSuspended { until: at(24) }, PenaltyState::Revoked);
    assert_eq!(
        revoked.state_at(at(48)),
        PenaltyState::Revoked,
        "a revocation is what it says"
    );
}

#[test]
fn a_revoked_deduction_gives_its_amount_back_and_nothing_else_does() {
    let amount = Fen::from_const(3_000);
    let deduction = penalty(PenaltyKind::DepositDeduction { amount }, PenaltyState::Appealed);
    assert_eq!(deduction.refund_on_revoke(), Some(amount));
    assert_eq!(
        penalty(PenaltyKind::Warning, PenaltyState::Appealed).refund_on_revoke(),
        None
    );
}

#[test]
fn scheduling_is_refused_by_a_suspension_first_then_by_the_smallest_cap() {
    let cap = |units| penalty(PenaltyKind::FlashUnitsCap { units }, PenaltyState::InForce);
    let suspended = penalty(PenaltyKind::NewSalesSuspended { until: at(10) }, PenaltyState::Upheld);
    // (penalties, units asked, at, answer)
    let cases = [
        (vec![], 1_000, at(0), Ok(())),
        (vec![cap(50), cap(20)], 20, at(0), Ok(())),
        (
            vec![cap(50), cap(20)],
            21,
            at(0),
            Err(SaleRefusal::FlashUnitsCap { cap: 20 }),
        ),
        (
            vec![cap(20), suspended],
            1,
            at(0),
            Err(SaleRefusal::SalesSuspended { until: at(10) }),
        ),
        (
            vec![cap(20), suspended],
            21,
            at(10),
            Err(SaleRefusal::FlashUnitsCap { cap: 20 }),
        ),
        (
            vec![penalty(PenaltyKind::FlashUnitsCap { units: 1 }, PenaltyState::Revoked)],
            100,
            at(0),
            Ok(()),
        ),
        (
            vec![penalty(PenaltyKind::Warning, PenaltyState::InForce)],
            100,
            at(0),
            Ok(()),
        ),
    ];
    for (penalties, units, now, answer) in cases {
        assert_eq!(
            check_flash_sale(&penalties, units, now),
            answer,
            "{penalties:?} {units}"
        );
    }
    assert_eq!(SaleRefusal::FlashUnitsCap { cap: 1 }.code(), "penalty_flash_units_cap");
    assert_eq!(
        SaleRefusal::SalesSuspended { until: at(0) }.code(),
        "penalty_sales_suspended"
    );
}

// ---- the deposit ledger --------------------------------------------------------------------

#[test]
fn a_deduction_larger_than_the_balance_is_refused_with_its_code() {
    let balance = Fen::from_const(1_000);
    let refused = next_balance(balance, DepositEntryKind::Deduction, Fen::from_const(1_001));
    assert_eq!(refused, Err(DepositRefusal::Insufficient { balance }));
    assert_eq!(refused.expect_err("refused").code(), "deposit_insufficient");
    assert_eq!(
        next_balance(balance, DepositEntryKind::Deduction, balance),
        Ok(Fen::ZERO)
    );
    assert_eq!(
        next_balance(balance, DepositEntryKind::Refund, Fen::from_const(1)),
        Ok(Fen::from_const(1_001))
    );
}

#[derive(Clone, Debug)]
struct Move {
    kind: DepositEntryKind,
    amount: i64,
}

fn moves() -> impl Strategy<Value = Vec<Move>> {
    let kind = prop_oneof![
        Just(DepositEntryKind::Deposit),
        Just(DepositEntryKind::Deduction),
        Just(DepositEntryKind::Deduction),
        Just(DepositEntryKind::Refund),
    ];
    prop::collection::vec(
        (kind, 1i64..50_000).prop_map(|(kind, amount)| Move { kind, amount }),
        0..60,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_balance_never_goes_negative_and_equals_the_sum_of_its_entries(moves in moves()) {
        let mut balance = Fen::ZERO;
        let mut entries: Vec<(DepositEntryKind, i64)> = Vec::new();
        for m in &moves {
            let amount = Fen::from_stored(m.amount).expect("a positive amount");
            match next_balance(balance, m.kind, amount) {
                Ok(next) => {
                    balance = next;
                    entries.push((m.kind, m.amount));
                }
                Err(DepositRefusal::Insufficient { balance: was }) => {
                    prop_assert_eq!(was, balance);
                    prop_assert!(m.kind == DepositEntryKind::Deduction && m.amount > balance.get());
                }
                Err(DepositRefusal::Overflow) => prop_assert!(false, "no overflow at these amounts"),
            }
            prop_assert!(balance.get() >= 0);
            let sum: i64 = entries
                .iter()
                .map(|(kind, amount)| if *kind == DepositEntryKind::Deduction { -amount } else { *amount })
                .sum();
            prop_assert_eq!(sum, balance.get());
        }
    }
}
