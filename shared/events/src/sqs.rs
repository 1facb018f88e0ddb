//! The SQS trigger: the same consumer contract for AWS Lambda's SQS event
//! source. Each record's body is a structured-mode CloudEvent; records the
//! handler fails are reported back as batch item failures, so SQS makes
//! them visible again (and moves them to the queue's dead-letter queue
//! after its `maxReceiveCount`), while the rest of the batch is done.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

use crate::CloudEvent;
use crate::publish::{DeliveryError, EventSink};

/// Hands every record of `event` to `sink`; the failed ones are returned.
pub async fn handle_batch(event: SqsEvent, sink: &dyn EventSink) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let body = record.body.unwrap_or_default();
        let result = match CloudEvent::from_structured(body.as_bytes()) {
            Ok(ev) => sink.deliver(&ev).await,
            Err(e) => Err(DeliveryError::Permanent(e.0)),
        };
        if let Err(e) = result {
            tracing::warn!(message_id = %id, error = ?e, "SQS record not handled; SQS will redeliver it");
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            failures.push(f);
        }
    }
    let mut resp = SqsBatchResponse::default();
    resp.batch_item_failures = failures;
    resp
}
