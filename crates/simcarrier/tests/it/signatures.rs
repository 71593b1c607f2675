//! Signatures: every delivery carries `Carrier-Signature: t=<unix seconds>,v1=<hex>`, which a
//! receiver holding the secret accepts, and refuses when anything about it is off.

use crate::support::{AT_MS, Receiver, SECRET, config, now_s, settled, shipment_with, transports};
use simcarrier::signature::{TOLERANCE_SECONDS_DEFAULT, sign, verify};
use simcarrier::{Scenario, SignatureError, TrackingState};

#[tokio::test]
async fn every_delivery_is_signed_with_the_shared_secret_at_the_time_it_is_sent() {
    for h in transports(config()).await {
        let receiver = Receiver::spawn().await;
        h.client.set_webhook_url(Some(receiver.url.clone())).await.unwrap();
        let waybill = h
            .client
            .create_waybill(shipment_with(Scenario::Returned, "shipment"))
            .await
            .unwrap();

        h.client
            .advance(&waybill.waybill_no, TrackingState::Returned, AT_MS)
            .await
            .unwrap();
        settled(&h.simcarrier).await;

        let received = receiver.received();
        assert_eq!(received.len(), 5, "{}", h.transport);
        for request in &received {
            assert_eq!(request.verified, Ok(()), "{}: {request:?}", h.transport);
            let header = request.signature.as_deref().unwrap();
            let (time, tag) = header.split_once(",v1=").unwrap();
            let signed_at_s: i64 = time.strip_prefix("t=").unwrap().parse().unwrap();
            assert!(
                (now_s() - signed_at_s).abs() <= 5,
                "signed when sent, not when the event happened"
            );
            assert_eq!(tag.len(), 64);
            assert!(
                tag.bytes()
                    .all(|byte| byte.is_ascii_hexdigit() && !byte.is_ascii_uppercase())
            );
            assert_eq!(header, sign(SECRET, signed_at_s, &request.body), "HMAC of t.body");
        }
    }
}

#[tokio::test]
async fn a_receiver_refuses_a_bad_stale_malformed_or_missing_signature() {
    let receiver = Receiver::spawn().await;
    let h = crate::support::in_process(simcarrier::Config {
        webhook_url: Some(receiver.url.clone()),
        ..config()
    });
    let waybill = h
        .client
        .create_waybill(shipment_with(Scenario::Normal, "shipment"))
        .await
        .unwrap();
    h.client
        .advance(&waybill.waybill_no, TrackingState::PickedUp, AT_MS)
        .await
        .unwrap();
    receiver.wait_for(1).await;
    let delivered = receiver.received().remove(0);
    let header = delivered.signature.clone().unwrap();
    let body = delivered.body.to_vec();
    let now = now_s();
    let tolerance = TOLERANCE_SECONDS_DEFAULT;

    let tampered = String::from_utf8(body.clone())
        .unwrap()
        .replace("picked_up", "delivered");
    let signed_at_s: i64 = header[2..header.find(',').unwrap()].parse().unwrap();
    let good = Case {
        secret: SECRET,
        header: Some(&header),
        body: &body,
        now_s: now,
    };
    let table = [
        ("good", good, Ok(())),
        (
            "another secret",
            Case {
                secret: b"whsec_guess",
                ..good
            },
            Err(SignatureError::Mismatch),
        ),
        (
            "a changed body",
            Case {
                body: tampered.as_bytes(),
                ..good
            },
            Err(SignatureError::Mismatch),
        ),
        (
            "replayed later",
            Case {
                now_s: signed_at_s + tolerance + 1,
                ..good
            },
            Err(SignatureError::Stale),
        ),
        (
            "no v1",
            Case {
                header: Some("t=1718726400"),
                ..good
            },
            Err(SignatureError::Malformed),
        ),
        (
            "not hex",
            Case {
                header: Some("t=1718726400,v1=zz"),
                ..good
            },
            Err(SignatureError::Malformed),
        ),
        ("missing", Case { header: None, ..good }, Err(SignatureError::Missing)),
    ];
    for (name, case, expected) in table {
        let verified = verify(case.secret, case.header, case.body, case.now_s, tolerance);
        assert_eq!(verified, expected, "{name}");
    }
}

/// What a receiver checks a delivery with.
#[derive(Clone, Copy)]
struct Case<'a> {
    secret: &'a [u8],
    header: Option<&'a str>,
    body: &'a [u8],
    now_s: i64,
}
