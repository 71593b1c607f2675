//! The merchant quality index (秒单质量指数): the curves' anchors, monotone scores, too little
//! data, explanations naming the biggest loss, the timeline facts, and the category percentile.

use miaodan_domain::after_sales::request::{Actor, AfterSalesRequest, Stage, Step};
use miaodan_domain::after_sales::rules::{Decision, RULE_SET_VERSION, RuleMode, Verdict};
use miaodan_domain::after_sales::{Reason, RequestKind};
use miaodan_domain::integrity::quality::*;
use miaodan_domain::{BuyerId, Fen, OrderId, ShopId, Timestamp};
use proptest::prelude::*;

/// A shop with enough data in every dimension and nothing wrong.
fn spotless() -> QualityFigures {
    QualityFigures {
        paid_orders: 1_000,
        parcels_shipped: 1_000,
        parcels_delivered: 1_000,
        merchant_decisions: 10,
        response_minutes_total: 10 * 60,
        ..QualityFigures::default()
    }
}

#[test]
fn every_curve_scores_its_anchors_exactly_and_is_flat_beyond_them() {
    let curves = [
        &QUALITY_RETURN_ANCHORS[..],
        &NO_REASON_RETURN_ANCHORS,
        &LATE_DELIVERY_ANCHORS,
        &ALERTS_PER_PARCEL_ANCHORS,
        &UNRESOLVED_ALERT_ANCHORS,
        &RESPONSE_MINUTES_ANCHORS,
        &OVERTURNED_REFUSAL_ANCHORS,
    ];
    for anchors in curves {
        for a in anchors {
            assert_eq!(score_on(anchors, a.at), a.score, "{anchors:?} at {}", a.at);
        }
        let (first, last) = (anchors[0], anchors[anchors.len() - 1]);
        assert_eq!(score_on(anchors, first.at - 1_000), first.score);
        assert_eq!(score_on(anchors, last.at + 1_000_000), last.score);
        assert!(
            anchors
                .windows(2)
                .all(|w| w[0].at < w[1].at && w[0].score >= w[1].score)
        );
    }
}

#[test]
fn a_late_rate_of_half_a_percent_scores_100_ten_percent_0_and_linear_between() {
    assert_eq!(score_on(&LATE_DELIVERY_ANCHORS, 50), 100);
    assert_eq!(score_on(&LATE_DELIVERY_ANCHORS, 1_000), 0);
    assert_eq!(score_on(&LATE_DELIVERY_ANCHORS, 525), 50);
}

#[test]
fn a_spotless_shop_scores_100_in_every_dimension_and_names_no_loss() {
    let index = quality_index(&spotless());
    assert_eq!(index.total, Some(100));
    assert_eq!(index.scored_weight, 100);
    for d in &index.dimensions {
        assert_eq!(d.score, Some(100), "{:?}", d.dimension);
        assert!(d.losses.is_empty());
    }
}

#[test]
fn a_shop_with_too_few_orders_gets_insufficient_data_and_the_total_is_over_the_rest() {
    let figures = QualityFigures {
        paid_orders: PRODUCT_ORDERS_MIN - 1,
        parcels_late: 95,
        ..spotless()
    };
    let index = quality_index(&figures);
    let product = index.dimension(Dimension::ProductQuality);
    assert_eq!(product.score, None);
    assert!(product.summary.en.contains("too little data"));
    let logistics = index.dimension(Dimension::LogisticsTimeliness).score.expect("scored");
    let weight = Dimension::LogisticsTimeliness.weight() + Dimension::AfterSalesService.weight();
    assert_eq!(index.scored_weight, weight);
    let expected =
        (logistics * Dimension::LogisticsTimeliness.weight() + 100 * Dimension::AfterSalesService.weight()) / weight;
    assert_eq!(index.total, Some(expected));
}

#[test]
fn a_shop_with_no_data_has_no_total() {
    let index = quality_index(&QualityFigures::default());
    assert_eq!(index.total, None);
    assert_eq!(index.scored_weight, 0);
    assert!(index.dimensions.iter().all(|d| d.score.is_none()));
}

#[test]
fn the_explanation_names_the_biggest_loss_first_with_its_counts_and_points() {
    let figures = QualityFigures {
        parcels_delivered: 240,
        parcels_shipped: 240,
        parcels_late: 18,
        alerts_raised: 3,
        ..spotless()
    };
    let logistics = quality_index(&figures)
        .dimension(Dimension::LogisticsTimeliness)
        .clone();
    let first = &logistics.losses[0];
    assert_eq!(first.measure, Measure::LateDeliveryRate);
    assert!(
        first.explanation.en.starts_with("18 of 240 parcels late: −"),
        "{}",
        first.explanation.en
    );
    assert!(first.explanation.zh.contains("240 个已签收包裹中 18 个"));
    assert_eq!(
        logistics.score,
        Some(100 - logistics.measures.iter().map(|m| m.lost_points).sum::<i64>())
    );
    assert!(logistics.losses.len() <= LOSSES_NAMED_MAX);
    assert!(
        logistics
            .losses
            .windows(2)
            .all(|w| w[0].lost_points >= w[1].lost_points)
    );
}

#[test]
fn quality_returns_cost_more_than_as_many_no_reason_returns() {
    let quality = quality_index(&QualityFigures {
        quality_returns: 40,
        ..spotless()
    });
    let no_reason = quality_index(&QualityFigures {
        no_reason_returns: 40,
        ..spotless()
    });
    let score = |i: &QualityIndex| i.dimension(Dimension::ProductQuality).score.expect("scored");
    assert!(
        score(&quality) < score(&no_reason),
        "{} vs {}",
        score(&quality),
        score(&no_reason)
    );
}

#[test]
fn percentile_is_withheld_below_three_peers_and_100_for_the_best_shop() {
    assert_eq!(category_percentile(90, &[10, 20]), None);
    assert_eq!(category_percentile(90, &[10, 20, 30]), Some(100));
    assert_eq!(category_percentile(10, &[20, 30, 40]), Some(25));
    assert_eq!(category_percentile(30, &[20, 30, 40]), Some(75));
}

fn request(reason: Reason, steps: &[(i64, Actor, Stage)]) -> AfterSalesRequest {
    let at = |minutes: i64| Timestamp::from_unix_ms(1_800_000_000_000 + minutes * 60_000);
    AfterSalesRequest {
        shop: ShopId::new(1).expect("a positive id"),
        buyer: BuyerId::new(1).expect("a positive id"),
        order: OrderId::new(1).expect("a positive id"),
        kind: RequestKind::RefundOnly,
        reason,
        lines: vec![],
        amount: Fen::from_const(100),
        decision: Decision {
            rule_set_version: RULE_SET_VERSION,
            mode: RuleMode::Enforced,
            verdict: Verdict::ToMerchant,
            acted: Verdict::ToMerchant,
            fired: vec![],
        },
        stage: steps.last().map_or(Stage::Closed, |s| s.2),
        return_shipping: None,
        return_parcel: None,
        return_pickup: None,
        scan_decision: None,
        inspection: None,
        address_change: None,
        replacements: vec![],
        replacement_order: None,
        opened_at: at(0),
        timeline: steps
            .iter()
            .map(|(m, actor, stage)| Step {
                at: at(*m),
                actor: *actor,
                stage: *stage,
            })
            .collect(),
    }
}

#[test]
fn a_refusal_the_platform_reverses_counts_as_overturned_and_the_merchant_answer_time_is_kept() {
    let far = Timestamp::from_unix_ms(i64::MAX / 2);
    let r = request(
        Reason::QualityIssue,
        &[
            (0, Actor::Rules, Stage::WithMerchant { due_at: far }),
            (90, Actor::Merchant, Stage::Refused { appeal_by: far }),
            (100, Actor::Buyer, Stage::WithPlatform),
            (200, Actor::Platform, Stage::Approved),
            (200, Actor::Platform, Stage::Refunding),
        ],
    );
    let facts = RequestFacts::of(&r);
    assert_eq!(facts.response_minutes, Some(90));
    assert!(facts.refused_by_merchant && facts.overturned && facts.granted);
    let mut figures = QualityFigures::default();
    figures.add_request(&r);
    assert_eq!((figures.quality_returns, figures.refusals_overturned), (1, 1));
}

#[test]
fn a_refusal_the_platform_upholds_is_not_overturned_and_grants_nothing() {
    let far = Timestamp::from_unix_ms(i64::MAX / 2);
    let r = request(
        Reason::NoReason,
        &[
            (0, Actor::Rules, Stage::WithMerchant { due_at: far }),
            (30, Actor::Merchant, Stage::Refused { appeal_by: far }),
            (40, Actor::Buyer, Stage::WithPlatform),
            (50, Actor::Platform, Stage::Closed),
        ],
    );
    let facts = RequestFacts::of(&r);
    assert!(facts.refused_by_merchant && !facts.overturned && !facts.granted);
}

#[test]
fn reasons_sort_into_goods_faults_buyer_choices_and_logistics() {
    assert_eq!(
        reason_class(RequestKind::ReturnAndRefund, Reason::ArrivedDamaged),
        ReasonClass::Quality
    );
    assert_eq!(
        reason_class(RequestKind::ReturnAndRefund, Reason::NoReason),
        ReasonClass::NoReason
    );
    assert_eq!(reason_class(RequestKind::RefundOnly, Reason::Lost), ReasonClass::Other);
    assert_eq!(
        reason_class(RequestKind::ChangeAddress, Reason::QualityIssue),
        ReasonClass::Other
    );
}

proptest! {
    #[test]
    fn more_bad_figures_never_raise_a_score(
        late in 0i64..240, more in 0i64..240, returns in 0i64..500, more_returns in 0i64..500,
        minutes in 0i64..5_000, more_minutes in 0i64..5_000,
    ) {
        let base = QualityFigures {
            parcels_delivered: 240,
            parcels_shipped: 240,
            parcels_late: late,
            quality_returns: returns,
            response_minutes_total: minutes * 10,
            ..spotless()
        };
        let worse = QualityFigures {
            parcels_late: (late + more).min(240),
            quality_returns: returns + more_returns,
            response_minutes_total: (minutes + more_minutes) * 10,
            ..base
        };
        let (a, b) = (quality_index(&base), quality_index(&worse));
        for d in Dimension::ALL {
            prop_assert!(b.dimension(d).score <= a.dimension(d).score);
        }
        prop_assert!(b.total <= a.total);
        for m in [Measure::QualityReturnRate, Measure::LateDeliveryRate, Measure::ResponseMinutes] {
            let anchors = m.anchors();
            prop_assert!(score_on(anchors, late) >= score_on(anchors, late + more));
        }
    }
}

#[test]
fn the_readme_example_scores_as_documented() {
    let figures = QualityFigures {
        paid_orders: 300,
        parcels_shipped: 240,
        parcels_delivered: 240,
        parcels_late: 18,
        alerts_raised: 3,
        ..spotless()
    };
    let index = quality_index(&figures);
    let logistics = index.dimension(Dimension::LogisticsTimeliness);
    let scores: Vec<(i64, i64, i64)> = logistics
        .measures
        .iter()
        .map(|m| (m.value, m.score, m.lost_points))
        .collect();
    assert_eq!(scores, [(750, 27, 36), (125, 99, 0), (0, 100, 0)]);
    assert_eq!(logistics.score, Some(64));
    assert_eq!(logistics.losses.len(), 1);
    assert_eq!(logistics.losses[0].explanation.en, "18 of 240 parcels late: −36 points");
    assert_eq!(logistics.summary.en, "Logistics timeliness: 64 points (weight 35).");
    // 40 × 100 + 35 × 64 + 25 × 100, over 100.
    assert_eq!(index.total, Some(87));
}
