//! Lambda's SQS batch on a FIFO queue: a record that fails stops its
//! message group for the rest of the batch (it and every later record of
//! the group are reported as batch item failures, and none of the later
//! ones reaches the consumer), while other groups go on. The negative
//! control hands the same batch to a handler that keeps going after a
//! failure, and the same order check catches it.

#![allow(clippy::unwrap_used)]

use std::sync::Mutex;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use serde_json::json;
use tg_events::CloudEvent;
use tg_events::publish::{DeliveryError, EventSink};

/// Records what reached it; fails the events whose data says so.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

#[async_trait::async_trait]
impl EventSink for Recorder {
    async fn deliver(&self, ev: &CloudEvent) -> Result<(), DeliveryError> {
        let data = ev.data.clone().unwrap_or_default();
        if data["fail"] == true {
            return Err(DeliveryError::Retryable(
                "consumer down for this one".into(),
            ));
        }
        self.0
            .lock()
            .unwrap()
            .push(data["n"].as_str().unwrap().to_string());
        Ok(())
    }
}

fn record(id: &str, group: &str, body: String) -> serde_json::Value {
    json!({"messageId": id, "body": body, "attributes": {"MessageGroupId": group}})
}

fn event(id: &str, group: &str, fail: bool) -> serde_json::Value {
    let ev = CloudEvent::new(
        "booking.held",
        "/ticketgw/bookings",
        json!({"n": id, "fail": fail}),
    );
    record(id, group, String::from_utf8(ev.to_structured()).unwrap())
}

/// Group A: a1, a2, POISON (not a CloudEvent), a4, a5; group B interleaved,
/// with a failing b3 later; group C clean.
fn batch() -> SqsEvent {
    let records = vec![
        event("a1", "A", false),
        event("b1", "B", false),
        event("a2", "A", false),
        record("a3", "A", "this is not a CloudEvent".into()),
        event("c1", "C", false),
        event("b2", "B", false),
        event("a4", "A", false),
        event("b3", "B", true),
        event("a5", "A", false),
        event("b4", "B", false),
        event("c2", "C", false),
    ];
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

/// The property: per group, nothing after the first failed record was
/// delivered, and that record and every later one of its group are
/// reported; everything before it and in clean groups was delivered.
fn in_order(delivered: &[String], resp: &SqsBatchResponse) -> Result<(), String> {
    let failed: Vec<&str> = resp
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    let want_delivered = ["a1", "b1", "a2", "c1", "b2", "c2"];
    let want_failed = ["a3", "a4", "b3", "a5", "b4"];
    if delivered != want_delivered {
        return Err(format!(
            "delivered {delivered:?}, expected {want_delivered:?}"
        ));
    }
    if failed != want_failed {
        return Err(format!("reported {failed:?}, expected {want_failed:?}"));
    }
    Ok(())
}

#[tokio::test]
async fn a_failed_record_stops_its_group_only() {
    let sink = Recorder::default();
    let resp = tg_events::sqs::handle_batch(batch(), &sink).await;
    let delivered = sink.0.lock().unwrap().clone();
    in_order(&delivered, &resp).unwrap();

    // Negative control: a handler that goes on after a failure lets a4 and
    // a5 overtake a3 (and b4 overtake b3).
    let naive = Recorder::default();
    let mut resp = SqsBatchResponse::default();
    for r in batch().records {
        let body = r.body.unwrap_or_default();
        let ok = match CloudEvent::from_structured(body.as_bytes()) {
            Ok(ev) => naive.deliver(&ev).await.is_ok(),
            Err(_) => false,
        };
        if !ok {
            let mut f = aws_lambda_events::event::sqs::BatchItemFailure::default();
            f.item_identifier = r.message_id.unwrap_or_default();
            resp.batch_item_failures.push(f);
        }
    }
    let delivered = naive.0.lock().unwrap().clone();
    assert!(
        in_order(&delivered, &resp).is_err(),
        "the control must fail the same check: {delivered:?}"
    );
}

#[tokio::test]
async fn records_without_a_group_are_independent() {
    let records = vec![
        json!({"messageId": "x1", "body": "garbage"}),
        json!({"messageId": "x2", "body": String::from_utf8(CloudEvent::new("t", "/s", json!({"n": "x2", "fail": false})).to_structured()).unwrap()}),
    ];
    let ev: SqsEvent = serde_json::from_value(json!({ "Records": records })).unwrap();
    let sink = Recorder::default();
    let resp = tg_events::sqs::handle_batch(ev, &sink).await;
    assert_eq!(*sink.0.lock().unwrap(), vec!["x2".to_string()]);
    assert_eq!(resp.batch_item_failures.len(), 1);
    assert_eq!(resp.batch_item_failures[0].item_identifier, "x1");
}
