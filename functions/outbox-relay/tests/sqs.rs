//! The SQS path against an SQS-compatible server on loopback (moto in
//! server mode): the relay publishes booking events to a FIFO queue (one
//! message group per booking: held before confirmed), and the notification
//! function's Lambda SQS handler takes the batch as Lambda would deliver
//! it, reporting the records it could not handle as batch item failures.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tg_events::publish::{SqsPublisher, sqs_client_with};
use tg_events::{Relay, RelayConfig};
use tg_testkit::TestDb;
use tg_testkit::fixtures::{buyer, confirmed_booking, published_event};
use tg_testkit::peers::Moto;

#[tokio::test]
async fn relay_to_sqs_and_the_lambda_sqs_handler() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let client = sqs_client_with(Some(&moto.endpoint), "us-east-1", "test", "test", None);
    let queue_url = client
        .create_queue()
        .queue_name(format!(
            "ticketgw-events-{}.fifo",
            uuid::Uuid::new_v4().simple()
        ))
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();

    let db = TestDb::sqlite().await;
    let store = db.store().await;
    let (event, tt) = published_event(&store, "Cloud Concert", 100).await;
    let mut bookings = Vec::new();
    for i in 0..5 {
        let u = buyer(&store, &format!("sqs{i}@example.test"), None).await;
        for _ in 0..4 {
            bookings.push(confirmed_booking(&store, u, event, tt, 1).await);
        }
    }
    let mut relay = Relay::new(
        store.clone(),
        Box::new(SqsPublisher::new(client.clone(), &queue_url)),
        RelayConfig {
            name: "sqs".into(),
            ..Default::default()
        },
    );
    for _ in 0..50 {
        relay.pass().await.unwrap();
        if store.outbox_stats().await.unwrap().pending == 0 {
            break;
        }
    }
    assert_eq!(store.outbox_stats().await.unwrap().pending, 0);

    // Receive everything (FIFO: a group's next message only after the
    // previous one is deleted, so delete as we go, in order).
    let mut records = Vec::new();
    for _ in 0..100 {
        let out = client
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in out.messages() {
            records.push(json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "eventSource": "aws:sqs",
            }));
            client
                .delete_message()
                .queue_url(&queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
        if records.len() >= 41 {
            break;
        }
        if out.messages().is_empty() && records.len() >= 40 {
            break;
        }
    }
    // held + confirmed for each of 20 bookings (plus the publication).
    let types: Vec<String> = records
        .iter()
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(r["body"].as_str().unwrap()).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        types.iter().filter(|t| *t == "booking.confirmed").count(),
        20,
        "{types:?}"
    );
    // Per booking: held before confirmed.
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    for r in &records {
        let v: serde_json::Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
        seen.entry(v["partitionkey"].as_str().unwrap().to_owned())
            .or_default()
            .push(v["type"].as_str().unwrap().to_owned());
    }
    for b in &bookings {
        assert_eq!(
            seen[&b.to_string()],
            vec!["booking.held", "booking.confirmed"]
        );
    }

    // The Lambda handler, with one poison record in the batch.
    let dir = tempfile::tempdir().unwrap();
    let mail_dir = dir.path().join("mail");
    let platform = tg_platform::Config::from_lookup(|k| match k {
        "DATABASE_URL" => Some(db.url.clone()),
        _ => None,
    })
    .unwrap();
    let cfg = notifications::NotifyConfig::from_lookup(
        |k| (k == "TICKETGW_MAIL_DIR").then(|| mail_dir.display().to_string()),
        &platform,
    )
    .unwrap();
    let sink = notifications::NotifierSink(Arc::new(
        notifications::Notifier::new(store.clone(), cfg).unwrap(),
    ));
    records.push(json!({"messageId": "poison-1", "body": "this is not an event"}));
    let event: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_value(json!({ "Records": records })).unwrap();
    let resp = tg_events::sqs::handle_batch(event.clone(), &sink).await;
    let failed: Vec<&str> = resp
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, vec!["poison-1"], "only the poison record fails");
    let count = || std::fs::read_dir(&mail_dir).map(|d| d.count()).unwrap_or(0);
    assert_eq!(count(), 20, "one email per confirmation");
    // SQS redelivers the whole batch (at-least-once): nothing is sent twice.
    let resp = tg_events::sqs::handle_batch(event, &sink).await;
    assert_eq!(resp.batch_item_failures.len(), 1);
    assert_eq!(count(), 20);
    tokio::time::sleep(Duration::from_millis(10)).await;
    moto.stop().await;
}
