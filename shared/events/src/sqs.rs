//! The SQS trigger: the same consumer contract for AWS Lambda's SQS event
//! source. Each record's body is a structured-mode CloudEvent; records the
//! handler fails are reported back as batch item failures, so SQS makes
//! them visible again (and moves them to the queue's dead-letter queue
//! after its `maxReceiveCount`), while the rest of the batch is done.

use std::collections::HashSet;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

use crate::CloudEvent;
use crate::publish::{DeliveryError, EventSink};

/// Hands every record of `event` to `sink`, in order; the failed ones are
/// returned.
///
/// On a FIFO queue the records of one message group (one partition) must
/// be handled in order: once a record of a group fails, the later records
/// of that group are not handed to the sink but reported as failures too,
/// so SQS redelivers them after the failed one and nothing overtakes it.
/// Other groups go on. Records without a group (a standard queue) are
/// independent.
pub async fn handle_batch(event: SqsEvent, sink: &dyn EventSink) -> SqsBatchResponse {
    let mut failures = Vec::new();
    let mut stopped_groups: HashSet<String> = HashSet::new();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let group = record.attributes.get("MessageGroupId").cloned();
        if let Some(g) = group.as_ref().filter(|g| stopped_groups.contains(*g)) {
            tracing::info!(message_id = %id, group = %g, "SQS record held back behind an earlier failure of its group");
            failures.push(failure(id));
            continue;
        }
        let body = record.body.unwrap_or_default();
        let result = match CloudEvent::from_structured(body.as_bytes()) {
            Ok(ev) => sink.deliver(&ev).await,
            Err(e) => Err(DeliveryError::Permanent(e.0)),
        };
        if let Err(e) = result {
            tracing::warn!(message_id = %id, error = ?e, "SQS record not handled; SQS will redeliver it");
            failures.push(failure(id));
            if let Some(g) = group {
                stopped_groups.insert(g);
            }
        }
    }
    let mut resp = SqsBatchResponse::default();
    resp.batch_item_failures = failures;
    resp
}

fn failure(id: String) -> BatchItemFailure {
    let mut f = BatchItemFailure::default();
    f.item_identifier = id;
    f
}
