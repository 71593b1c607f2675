//! Risk on flash-sale taps, through `ShardState::apply`: each standard rule fires on what it
//! names and not on an honest tap; the verdict follows the score; a refused tap holds nothing;
//! a buyer who stepped up (holds a pass) has one challenge let through as a review, never a block;
//! shadow mode refuses nothing; the same taps give the same verdicts. Rules are checked by the
//! fired list of `RiskBook::assess` and by what the shard answers.

use crate::common;

use common::*;
use miaodan_domain::Timestamp;
use miaodan_domain::flash_sale::FlashSaleId;
use miaodan_domain::geo::Adcode;
use miaodan_domain::ids::{AfterSalesId, PaymentIntentId};
use miaodan_domain::orders::{Address, AddressDetail};
use miaodan_domain::risk::RiskDecision;
use miaodan_domain::risk::{
    Assessment, BuyerHistory, ClientSignals, RiskBook, RiskMode, RiskRefusal, RiskRequest, RuleSet, Subject, Verdict,
    address_key,
};
use miaodan_domain::shard::{Command, Effect, Outcome, Rejection, ScheduleFlashSale, Tap};
use proptest::prelude::*;

const START: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

fn sale_id() -> FlashSaleId {
    FlashSaleId::new(1).expect("positive")
}

fn at(ms_after_t0: i64) -> Timestamp {
    Timestamp::from_unix_ms(T0.unix_ms() + ms_after_t0)
}

fn flat(detail: &str) -> Address {
    Address {
        adcode: Adcode::parse("330110000000").expect("余杭区"),
        detail: AddressDetail::parse(detail).expect("a detail"),
    }
}

/// An honest client: its own device and credential, an account two years old.
fn honest(buyer: i64) -> ClientSignals {
    ClientSignals {
        device: Some(1_000 + buyer as u64),
        ip_prefix: Some(7),
        credential: Some(5_000 + buyer as u64),
        account_opened_at: Some(at(-730 * DAY_MS)),
        address_key: None,
        history: None,
    }
}

fn own_flat(buyer: i64) -> Address {
    flat(&format!("文一西路{buyer}号{buyer}幢1单元101室"))
}

/// Assesses one tap of `buyer` at `ms` after T0 on a sale starting at `START`.
fn assess(book: &mut RiskBook, buyer: i64, ms: i64, address: &Address, client: ClientSignals) -> Assessment {
    let tap = RiskRequest {
        buyer: buyer_id(buyer),
        subject: Subject::Tap { sale: sale_id() },
        sale_starts_at: Some(at(START)),
        strict: false,
        address: Some(address),
        client: &client,
    };
    book.assess(&tap, at(ms))
}

fn fired(assessment: &Assessment) -> Vec<&str> {
    assessment.fired.iter().map(|f| f.code.as_str()).collect()
}

fn book() -> RiskBook {
    RiskBook::new(RuleSet::standard(), RiskMode::On)
}

#[test]
fn an_honest_tap_two_seconds_after_the_start_fires_nothing() {
    let mut book = book();
    let assessment = assess(&mut book, 1, START + 2_000, &own_flat(1), honest(1));
    assert_eq!(assessment.verdict, Verdict::Allow);
    assert_eq!((assessment.score, fired(&assessment)), (0, vec![]));
}

#[test]
fn an_address_key_worked_out_by_the_shell_scores_as_the_one_the_book_works_out() {
    let ring = flat("文一西路88号3幢2单元501室");
    let mut by_book = book();
    let mut by_shell = book();
    for buyer in 1..=6 {
        let worked_out = ClientSignals {
            address_key: Some(address_key(ring.adcode, ring.detail.as_str())),
            ..honest(buyer)
        };
        assert_eq!(
            assess(&mut by_book, buyer, START + 2_000, &ring, honest(buyer)),
            assess(&mut by_shell, buyer, START + 2_000, &ring, worked_out),
        );
    }
}

#[test]
fn a_fourth_account_on_one_device_fires_shared_device_and_a_household_of_three_does_not() {
    let mut book = book();
    let on_device = |buyer| ClientSignals {
        device: Some(42),
        ..honest(buyer)
    };
    for buyer in 1..=3 {
        let household = assess(&mut book, buyer, START + 2_000, &own_flat(buyer), on_device(buyer));
        assert!(!fired(&household).contains(&"shared_device"), "buyer {buyer}");
    }
    let fourth = assess(&mut book, 4, START + 2_000, &own_flat(4), on_device(4));
    assert!(fired(&fourth).contains(&"shared_device"), "{fourth:?}");
    assert_eq!(fourth.fired[0].value, 4);
}

#[test]
fn accounts_shipping_to_one_flat_are_linked_into_a_ring_that_is_blocked() {
    let mut book = book();
    let mut last = None;
    for buyer in 1..=6 {
        last = Some(assess(
            &mut book,
            buyer,
            START + 2_000,
            &flat("文一西路88号3幢2单元501室"),
            honest(buyer),
        ));
    }
    let sixth = last.expect("six taps");
    assert_eq!(fired(&sixth), vec!["shared_address", "linked_ring"]);
    assert_eq!(sixth.verdict, Verdict::Block);
}

#[test]
fn a_fourth_account_paying_with_one_credential_is_challenged() {
    let mut book = book();
    let card = |buyer| ClientSignals {
        credential: Some(9),
        ..honest(buyer)
    };
    for buyer in 1..=3 {
        let family = assess(&mut book, buyer, START + 2_000, &own_flat(buyer), card(buyer));
        assert_eq!(family.verdict, Verdict::Allow, "a family's card, buyer {buyer}");
    }
    let fourth = assess(&mut book, 4, START + 2_000, &own_flat(4), card(4));
    assert_eq!(fired(&fourth), vec!["shared_credential"]);
    assert_eq!(fourth.verdict, Verdict::Challenge);
}

#[test]
fn a_tap_within_150_ms_of_the_start_by_a_new_account_without_a_device_is_challenged() {
    let mut book = book();
    let bot = ClientSignals {
        device: None,
        account_opened_at: Some(at(-DAY_MS)),
        ..honest(1)
    };
    let assessment = assess(&mut book, 1, START + 3, &own_flat(1), bot);
    assert_eq!(fired(&assessment), vec!["new_account", "inhuman_reaction", "no_device"]);
    assert_eq!((assessment.score, assessment.verdict), (60, Verdict::Challenge));
    // The same tap a second later is a person's reaction time.
    let mut book = self::book();
    let later = assess(&mut book, 1, START + 1_003, &own_flat(1), bot);
    assert_eq!(fired(&later), vec!["new_account", "no_device"]);
    assert_eq!(later.verdict, Verdict::Allow);
}

#[test]
fn taps_on_a_metronome_fire_and_a_persons_uneven_taps_do_not() {
    let mut book = book();
    let metronome: Vec<Assessment> = (0..4)
        .map(|tap| assess(&mut book, 1, START + 5_000 + tap * 250, &own_flat(1), honest(1)))
        .collect();
    assert_eq!(fired(&metronome[3]), vec!["metronome_taps"]);
    let mut book = self::book();
    let person: Vec<Assessment> = [0, 700, 1_900, 2_300]
        .map(|gap| assess(&mut book, 2, START + 5_000 + gap, &own_flat(2), honest(2)))
        .to_vec();
    assert_eq!(fired(&person[3]), Vec::<&str>::new());
}

#[test]
fn the_tenth_tap_in_a_minute_fires_velocity() {
    let mut book = book();
    let gaps = [0, 900, 1_700, 3_100, 3_900, 5_600, 6_100, 7_800, 9_000, 10_300];
    let velocity: Vec<bool> = gaps
        .iter()
        .map(|gap| assess(&mut book, 1, START + 5_000 + gap, &own_flat(1), honest(1)))
        .map(|a| fired(&a).contains(&"tap_velocity"))
        .collect();
    assert_eq!(velocity, [vec![false; 9], vec![true]].concat());
}

#[test]
fn a_rule_in_shadow_is_recorded_but_adds_nothing() {
    let mut rules = RuleSet::standard();
    for rule in &mut rules.rules {
        rule.shadow = rule.code == "shared_credential";
    }
    let mut book = RiskBook::new(rules, RiskMode::On);
    let card = |buyer| ClientSignals {
        credential: Some(9),
        ..honest(buyer)
    };
    for buyer in 1..=3 {
        assess(&mut book, buyer, START + 2_000, &own_flat(buyer), card(buyer));
    }
    let fourth = assess(&mut book, 4, START + 2_000, &own_flat(4), card(4));
    assert_eq!(fired(&fourth), vec!["shared_credential"]);
    assert!(fourth.fired[0].shadow);
    assert_eq!((fourth.score, fourth.verdict), (0, Verdict::Allow));
    // What it would do if it acted: 50 points, a challenge.
    assert_eq!(fourth.shadow_verdict, Verdict::Challenge);
}

/// Screens one tap of `buyer` at `ms` after T0 from a bare client (a new account, no device).
fn screen(book: &mut RiskBook, buyer: i64, ms: i64, strict: bool) -> miaodan_domain::risk::Screened {
    let client = ClientSignals {
        account_opened_at: Some(at(0)),
        ..ClientSignals::default()
    };
    let address = own_flat(buyer);
    let tap = RiskRequest {
        buyer: buyer_id(buyer),
        subject: Subject::Tap { sale: sale_id() },
        sale_starts_at: Some(at(START)),
        strict,
        address: Some(&address),
        client: &client,
    };
    book.screen(&tap, at(ms))
}

#[test]
fn an_allowed_tap_is_not_kept_and_a_reviewed_one_is_kept_once_a_minute_per_buyer() {
    let mut book = book();
    // New account (15) without a device (5): 20, allowed; strict (review at 18): reviewed.
    let plain = screen(&mut book, 1, START + 2_000, false);
    assert_eq!((plain.refusal, plain.kept), (None, None));
    let first = screen(&mut book, 2, START + 2_000, true);
    assert_eq!(first.kept.map(|a| a.verdict), Some(Verdict::Review));
    assert_eq!(first.refusal, None, "a review lets the tap through");
    let again = screen(&mut book, 2, START + 30_000, true);
    assert_eq!(again.kept, None, "the same verdict within a minute is not kept again");
    let later = screen(
        &mut book,
        2,
        START + 2_000 + miaodan_domain::risk::DECISION_REPEAT_MS,
        true,
    );
    assert_eq!(later.kept.map(|a| a.verdict), Some(Verdict::Review));
}

/// Screens one tap of `buyer` at `ms` after T0 from `client`, shipped to the buyer's own flat.
fn screen_from(book: &mut RiskBook, buyer: i64, ms: i64, client: ClientSignals) -> miaodan_domain::risk::Screened {
    let address = own_flat(buyer);
    let tap = RiskRequest {
        buyer: buyer_id(buyer),
        subject: Subject::Tap { sale: sale_id() },
        sale_starts_at: Some(at(START)),
        strict: false,
        address: Some(&address),
        client: &client,
    };
    book.screen(&tap, at(ms))
}

/// A new account without a device, tapping within 150 ms of the start: 60 points, a challenge.
fn quick_bot(buyer: i64) -> ClientSignals {
    ClientSignals {
        device: None,
        account_opened_at: Some(at(-DAY_MS)),
        ..honest(buyer)
    }
}

#[test]
fn a_challenged_buyer_who_stepped_up_goes_through_once_as_a_review_marked_stepped_up() {
    let mut book = book();
    let first = screen_from(&mut book, 1, START + 3, quick_bot(1));
    assert_eq!(first.refusal.map(|r| r.verdict), Some(Verdict::Challenge));
    book.grant_pass(buyer_id(1), at(START + 600_000));
    let stepped = screen_from(&mut book, 1, START + 20, quick_bot(1));
    assert_eq!(stepped.refusal, None, "the pass lets the challenged tap through");
    let kept = stepped.kept.expect("a stepped-up tap is kept for review");
    assert_eq!((kept.verdict, kept.stepped_up), (Verdict::Review, true));
    assert_eq!(kept.score, 60, "the score is what it was: only the verdict changes");
    let again = screen_from(&mut book, 1, START + 40, quick_bot(1));
    assert_eq!(
        again.refusal.map(|r| r.verdict),
        Some(Verdict::Challenge),
        "a pass lets one request through"
    );
    assert!(!again.kept.is_some_and(|a| a.stepped_up));
}

#[test]
fn an_expired_pass_lets_nothing_through() {
    let mut book = book();
    book.grant_pass(buyer_id(1), at(START + 3));
    let late = screen_from(&mut book, 1, START + 3, quick_bot(1));
    assert_eq!(late.refusal.map(|r| r.verdict), Some(Verdict::Challenge));
}

#[test]
fn another_buyers_pass_lets_nothing_through() {
    let mut book = book();
    book.grant_pass(buyer_id(2), at(START + 600_000));
    let bot = screen_from(&mut book, 1, START + 3, quick_bot(1));
    assert_eq!(bot.refusal.map(|r| r.verdict), Some(Verdict::Challenge));
}

#[test]
fn a_block_stays_a_block_whatever_pass_the_buyer_holds() {
    let mut book = book();
    let ring = flat("文一西路88号3幢2单元501室");
    for buyer in 1..=5 {
        let client = honest(buyer);
        let tap = RiskRequest {
            buyer: buyer_id(buyer),
            subject: Subject::Tap { sale: sale_id() },
            sale_starts_at: Some(at(START)),
            strict: false,
            address: Some(&ring),
            client: &client,
        };
        book.screen(&tap, at(START + 2_000));
    }
    book.grant_pass(buyer_id(6), at(START + 600_000));
    let client = honest(6);
    let sixth = RiskRequest {
        buyer: buyer_id(6),
        subject: Subject::Tap { sale: sale_id() },
        sale_starts_at: Some(at(START)),
        strict: false,
        address: Some(&ring),
        client: &client,
    };
    let screened = book.screen(&sixth, at(START + 2_000));
    assert_eq!(screened.refusal.map(|r| r.verdict), Some(Verdict::Block));
    assert!(!screened.kept.expect("a block is kept").stepped_up);
}

#[test]
fn an_allowed_tap_leaves_the_pass_for_the_request_that_needs_it() {
    let mut book = book();
    book.grant_pass(buyer_id(1), at(START + 600_000));
    let honest_tap = screen_from(&mut book, 1, START + 2_000, honest(1));
    assert_eq!((honest_tap.refusal, honest_tap.kept), (None, None));
    let bot = ClientSignals {
        device: None,
        account_opened_at: Some(at(-DAY_MS)),
        ..honest(2)
    };
    // Buyer 2's first tap is a challenge; with the pass given after it, its next one is not.
    assert!(screen_from(&mut book, 2, START + 3, bot).refusal.is_some());
    book.grant_pass(buyer_id(2), at(START + 600_000));
    let later = screen_from(&mut book, 2, START + 5, bot);
    assert_eq!(
        later.kept.map(|a| (a.verdict, a.stepped_up)),
        Some((Verdict::Review, true))
    );
}

#[test]
fn a_full_map_of_passes_drops_the_one_that_expires_first() {
    use miaodan_domain::risk::{Passes, RiskHashKey};
    let mut passes = Passes::keyed(2, RiskHashKey::FIXED);
    passes.grant(buyer_id(1), at(5_000));
    passes.grant(buyer_id(2), at(1_000));
    passes.grant(buyer_id(3), at(9_000));
    assert_eq!(passes.len(), 2, "bounded");
    assert!(!passes.holds(buyer_id(2), at(0)), "the first to expire made room");
    assert!(passes.holds(buyer_id(1), at(0)) && passes.holds(buyer_id(3), at(0)));
    // A grant to a holder replaces its pass and takes no room.
    passes.grant(buyer_id(1), at(7_000));
    assert_eq!(passes.len(), 2);
    assert!(passes.take(buyer_id(1), at(6_000)));
    assert!(!passes.take(buyer_id(1), at(6_000)), "used up");
}

#[test]
fn a_sale_in_strict_mode_is_known_to_the_book_until_it_leaves_it() {
    let mut book = book();
    let sale = FlashSaleId::new(7).expect("an id");
    assert!(!book.is_strict(sale));
    book.set_strict(sale, true);
    assert!(book.is_strict(sale) && !book.is_strict(FlashSaleId::new(8).expect("an id")));
    book.set_strict(sale, false);
    assert!(!book.is_strict(sale));
}

#[test]
fn an_older_rule_set_announced_late_does_not_replace_a_newer_one() {
    let mut book = book();
    let mut newer = RuleSet::standard();
    newer.version = 3;
    assert!(book.adopt_rules(newer));
    let mut older = RuleSet::standard();
    older.version = 2;
    assert!(!book.adopt_rules(older));
    assert_eq!(book.rules().version, 3);
}

// ---- through the shard ----------------------------------------------------------------------

fn world(mode: RiskMode) -> World {
    let mut world = World::default();
    world
        .shop(1)
        .warehouse(11, 1)
        .product(101, 1, &[(1001, 1999)])
        .stock(1, 1001, 11, 100);
    world.setup(Command::from(ScheduleFlashSale {
        id: FlashSaleId::new(1).expect("positive"),
        shop: shop_id(1),
        sku: sku_id(1001),
        warehouse: warehouse_id(11),
        starts_at: at(START),
        ends_at: at(3_600_000),
        price: fen(990),
        units: 50,
        per_buyer_limit: 1,
        payment_timeout_seconds: 300,
    }));
    world.state.set_risk_policy(RuleSet::standard(), mode);
    world
}

fn tap(order: i64, buyer: i64, address: Address, client: ClientSignals) -> Command {
    Command::from(Tap {
        sale: FlashSaleId::new(1).expect("positive"),
        order: order_id(order),
        checkout: checkout_id(order),
        buyer: buyer_id(buyer),
        quantity: quantity(1),
        address,
        request: None,
        client,
    })
}

/// Six accounts of one flat, tapping 2 s after the start: the sixth is blocked.
fn ring_taps() -> Vec<Command> {
    (1..=6)
        .map(|buyer| tap(buyer, buyer, flat("文一西路88号3幢2单元501室"), honest(buyer)))
        .collect()
}

#[test]
fn a_checkout_is_screened_like_a_tap_and_a_refused_one_holds_nothing() {
    let mut world = world(RiskMode::On);
    world.now = at(START + 2_000);
    let mut answers = Vec::new();
    for buyer in 1..=6 {
        // Six accounts checking out to one flat (no sale start: reaction time is not read).
        let mut command = place(100 + buyer, 1, buyer, &[(1001, 1)]);
        command.address = flat("文一西路88号3幢2单元501室");
        command.client = Box::new(honest(buyer));
        let before = (world.state.inventory().clone(), world.open_orders());
        let (outcome, effects) = world.run(Command::from(command));
        if let Outcome::Rejected(Rejection::Risk(refusal)) = &outcome {
            assert_eq!((refusal.verdict, refusal.score), (Verdict::Block, 80));
            assert_eq!((world.state.inventory().clone(), world.open_orders()), before);
            let Some(Effect::RiskDecided(kept)) = effects.first() else {
                panic!("a refused checkout keeps its decision: {effects:?}")
            };
            assert_eq!((kept.subject, kept.ordered), (Subject::Checkout, false));
        }
        answers.push(matches!(outcome, Outcome::OrderPlaced(_)));
    }
    // Four on one flat: shared_address (40), a review; the sixth links a ring (40 more): blocked.
    assert_eq!(answers, [true, true, true, true, true, false]);
}

#[test]
fn a_blocked_tap_is_refused_before_the_sale_takes_anything() {
    let mut world = world(RiskMode::On);
    world.now = at(START + 2_000);
    let mut answers = Vec::new();
    for command in ring_taps() {
        let before = (world.state.inventory().clone(), world.open_orders());
        let (outcome, effects) = world.run(command);
        if let Outcome::Rejected(_) = &outcome {
            // A refusal writes its decision for review, and nothing else.
            let kept: Vec<&RiskDecision> = effects
                .iter()
                .map(|e| match e {
                    Effect::RiskDecided(decision) => decision.as_ref(),
                    other => panic!("a refused tap wrote {other:?}"),
                })
                .collect();
            assert_eq!(kept.len(), 1);
            assert!(!kept[0].ordered && kept[0].enforced);
            assert_eq!(kept[0].assessment.verdict, Verdict::Block);
            assert_eq!((world.state.inventory().clone(), world.open_orders()), before);
        }
        answers.push(outcome);
    }
    let refused: Vec<&Outcome> = answers.iter().filter(|o| matches!(o, Outcome::Rejected(_))).collect();
    assert_eq!(
        refused,
        vec![&Outcome::Rejected(Rejection::Risk(RiskRefusal {
            verdict: Verdict::Block,
            score: 80
        }))]
    );
    assert_eq!(world.state.risk().verdicts_given(), [3, 2, 0, 1]);
}

#[test]
fn in_shadow_the_same_taps_are_scored_and_none_is_refused() {
    let mut world = world(RiskMode::Shadow);
    world.now = at(START + 2_000);
    for command in ring_taps() {
        let (outcome, _) = world.run(command);
        assert!(matches!(outcome, Outcome::OrderPlaced(_)), "{outcome:?}");
    }
    assert_eq!(world.state.risk().verdicts_given(), [3, 2, 0, 1]);
}

#[test]
fn with_risk_off_nothing_is_scored() {
    let mut world = world(RiskMode::Off);
    world.now = at(START + 2_000);
    for command in ring_taps() {
        world.run(command);
    }
    assert_eq!(world.state.risk().verdicts_given(), [0, 0, 0, 0]);
}

proptest! {
    /// Whatever the taps (buyers, devices, flats, credentials, times), two books fed the same
    /// taps give the same assessments, and a refused tap leaves stock and orders as they were.
    #[test]
    fn the_same_taps_give_the_same_verdicts_and_a_refused_tap_holds_nothing(
        taps in proptest::collection::vec((1i64..30, 0u64..6, 0i64..5, 0u64..4, 0i64..8_000), 1..60),
    ) {
        let commands: Vec<(i64, Command)> = taps
            .iter()
            .enumerate()
            .map(|(i, &(buyer, device, room, card, ms))| {
                let client = ClientSignals {
                    device: (device > 0).then_some(device),
                    ip_prefix: Some(1),
                    credential: (card > 0).then_some(card),
                    account_opened_at: Some(at(-(buyer % 4) * DAY_MS)),
                    address_key: None,
                    history: None,
                };
                let command = tap(i as i64 + 1, buyer, flat(&format!("文一西路88号3幢2单元50{room}室")), client);
                (START + ms, command)
            })
            .collect();
        let mut first = world(RiskMode::On);
        let mut second = world(RiskMode::On);
        let mut sorted = commands.clone();
        sorted.sort_by_key(|(ms, _)| *ms);
        for (ms, command) in sorted {
            first.now = at(ms);
            second.now = at(ms);
            let before = (first.state.inventory().clone(), first.open_orders());
            let (outcome, effects) = first.run(command.clone());
            let (again, effects_again) = second.run(command);
            prop_assert_eq!(&outcome, &again);
            prop_assert_eq!(&effects, &effects_again);
            if matches!(outcome, Outcome::Rejected(Rejection::Risk(_))) {
                // It writes its decision for review and holds nothing.
                prop_assert!(effects.iter().all(|e| matches!(e, Effect::RiskDecided(_))), "{:?}", effects);
                prop_assert_eq!((first.state.inventory().clone(), first.open_orders()), before);
            }
        }
        prop_assert_eq!(first.state.risk().verdicts_given(), second.state.risk().verdicts_given());
    }
}

/// Screens a payment attempt of `buyer` at `ms` after T0, paying with `credential`.
fn screen_payment(book: &mut RiskBook, buyer: i64, ms: i64, client: ClientSignals) -> miaodan_domain::risk::Screened {
    let request = RiskRequest {
        buyer: buyer_id(buyer),
        subject: Subject::Payment {
            intent: PaymentIntentId::new(buyer).expect("positive"),
        },
        sale_starts_at: None,
        strict: false,
        address: None,
        client: &client,
    };
    book.screen(&request, at(ms))
}

#[test]
fn a_fourth_account_paying_with_one_card_is_challenged_and_every_such_payment_is_kept() {
    let mut book = book();
    let verdicts: Vec<(Verdict, bool)> = (1..=5)
        .map(|buyer| {
            let client = ClientSignals {
                credential: Some(77),
                ..honest(buyer)
            };
            let screened = screen_payment(&mut book, buyer, START + buyer * 1_000, client);
            (
                screened.refusal.map_or(Verdict::Allow, |r| r.verdict),
                screened.kept.is_some(),
            )
        })
        .collect();
    // A family's three pass; the fourth and fifth (shared_credential, 50) are challenged and
    // each kept (a payment is money: no once-a-minute folding).
    use Verdict::*;
    assert_eq!(
        verdicts,
        [
            (Allow, false),
            (Allow, false),
            (Allow, false),
            (Challenge, true),
            (Challenge, true)
        ]
    );
}

#[test]
fn a_payment_or_an_after_sales_request_is_not_a_tap() {
    let mut book = book();
    // Twelve payments in a second would be twelve taps over tap_velocity's 10.
    for n in 0..12 {
        let screened = screen_payment(&mut book, 1, START + n, honest(1));
        assert_eq!(screened.refusal, None);
    }
    let request = RiskRequest {
        buyer: buyer_id(1),
        subject: Subject::AfterSales {
            request: AfterSalesId::new(9).expect("positive"),
        },
        sale_starts_at: None,
        strict: false,
        address: Some(&own_flat(1)),
        client: &honest(1),
    };
    let assessment = book.assess(&request, at(START + 20));
    assert!(fired(&assessment).is_empty(), "{:?}", assessment.fired);
}

#[test]
fn a_buyer_who_refunds_half_it_pays_for_is_reviewed_and_empty_returns_are_challenged() {
    let mut book = book();
    let with_history = |buyer: i64, history: BuyerHistory| ClientSignals {
        history: Some(history),
        ..honest(buyer)
    };
    let history = |paid_orders, refunded_requests, returns_without_parcel| BuyerHistory {
        paid_orders,
        refunded_requests,
        returns_without_parcel,
    };
    let cases = [
        // Four orders, all refunded: too few orders for a rate.
        (1, history(4, 4, 0), vec![], Verdict::Allow),
        (2, history(10, 4, 0), vec![], Verdict::Allow),
        (3, history(10, 5, 0), vec!["refunds_often"], Verdict::Review),
        (4, history(10, 1, 1), vec![], Verdict::Allow),
        (5, history(10, 2, 2), vec!["returns_without_parcel"], Verdict::Challenge),
        (
            6,
            history(10, 6, 2),
            vec!["refunds_often", "returns_without_parcel"],
            Verdict::Block,
        ),
    ];
    for (buyer, past, expected, verdict) in cases {
        let screened = screen_payment(&mut book, buyer, START, with_history(buyer, past));
        let assessment = book.assess(
            &RiskRequest {
                buyer: buyer_id(100 + buyer),
                subject: Subject::Checkout,
                sale_starts_at: None,
                strict: false,
                address: Some(&own_flat(100 + buyer)),
                client: &with_history(100 + buyer, past),
            },
            at(START),
        );
        assert_eq!(fired(&assessment), expected, "{past:?}");
        assert_eq!(assessment.verdict, verdict, "{past:?}");
        assert_eq!(screened.score, assessment.score, "a payment reads the same history");
    }
}

#[test]
fn the_score_other_capabilities_read_puts_the_review_threshold_at_seven_hundred() {
    let book = book();
    // Review at 30: 29 → 676, 30 → 700, 80 (block) → 1000 (capped).
    let scaled: Vec<u16> = [0, 29, 30, 50, 80, 500].map(|s| book.score_permille(s)).to_vec();
    assert_eq!(scaled, [0, 676, 700, 1000, 1000, 1000]);
}

#[test]
fn a_devices_flats_and_cards_requests_per_minute_are_counted_whoever_sends_them() {
    let mut book = book();
    let mut last = None;
    // Forty accounts, one tablet, one card, one flat, a request a second.
    for n in 0..40 {
        let client = ClientSignals {
            device: Some(9),
            credential: Some(99),
            ..honest(1 + n)
        };
        last = Some(assess(&mut book, 1 + n, START + n * 1_000, &own_flat(1), client));
    }
    let last = last.expect("forty taps");
    let fired: Vec<(&str, i64, bool)> = last
        .fired
        .iter()
        .filter(|f| f.code.ends_with("_burst"))
        .map(|f| (f.code.as_str(), f.value, f.shadow))
        .collect();
    // The sliding minute counts the 40 requests of the last 40 s (all in its first window).
    assert_eq!(
        fired,
        [
            ("device_burst", 40, true),
            ("address_burst", 40, true),
            ("credential_burst", 40, true)
        ]
    );
    // A minute later the window has slid past them.
    let quiet = assess(&mut book, 1, START + 200_000, &own_flat(1), honest(1));
    assert!(
        quiet.fired.iter().all(|f| !f.code.ends_with("_burst")),
        "{:?}",
        quiet.fired
    );
}
