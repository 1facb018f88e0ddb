//! The simulated provider: the whole payment flow with no provider account,
//! for the local platform and demos. It keeps its own ledger in storage
//! (`simulated_payments`), offers a hosted "pay" page, and announces the
//! outcome with a webhook in Stripe's wire format signed with Stripe's
//! scheme, which the platform verifies exactly like Stripe's.
//!
//! Each process signs with its own random secret, so a webhook verifies only
//! in the instance that made it; the platform delivers it there, in process,
//! through the same verification as any provider's.

use async_trait::async_trait;
use tg_store::{DynStore, SimulatedPayment};

use crate::{
    CreatePayment, PaymentProvider, PaymentStatus, ProviderError, ProviderPayment, ProviderRefund,
    RefundStatus, WebhookError, WebhookEvent, signature,
};

pub const NAME: &str = "simulated";

pub struct SimulatedProvider {
    store: DynStore,
    public_url: String,
    secret: String,
}

impl SimulatedProvider {
    pub fn new(store: DynStore, public_url: impl Into<String>) -> Self {
        let mut bytes = [0u8; 32];
        // A fresh secret per process (see the module documentation).
        bytes
            .iter_mut()
            .zip(
                uuid::Uuid::new_v4()
                    .as_bytes()
                    .iter()
                    .chain(uuid::Uuid::new_v4().as_bytes()),
            )
            .for_each(|(b, r)| *b = *r);
        Self {
            store,
            public_url: public_url.into(),
            secret: format!("whsec_sim_{}", crate::hex::encode(&bytes)),
        }
    }

    /// The buyer "pays" (or the card is declined): updates the ledger and
    /// returns the signed webhook (`Stripe-Signature` header value, body)
    /// announcing it. `None`: no such payment, or it cannot change any more.
    pub async fn settle(
        &self,
        id: &str,
        succeed: bool,
        now_unix: i64,
    ) -> Result<Option<(String, Vec<u8>)>, ProviderError> {
        let Some(p) = self.store.sim_get(id).await.map_err(unavailable)? else {
            return Ok(None);
        };
        if p.status == "succeeded" {
            return Ok(None);
        }
        let (status, event_type) = if succeed {
            ("succeeded", "payment_intent.succeeded")
        } else {
            ("requires_payment_method", "payment_intent.payment_failed")
        };
        self.store
            .sim_set_status(id, status, tg_store::now())
            .await
            .map_err(unavailable)?;
        let mut intent = serde_json::json!({
            "id": p.id,
            "object": "payment_intent",
            "amount": p.amount_cents,
            "amount_received": if succeed { p.amount_cents } else { 0 },
            "currency": p.currency.to_lowercase(),
            "status": status,
            "metadata": {"booking_id": p.booking_id.to_string()},
        });
        if !succeed {
            intent["last_payment_error"] = serde_json::json!({
                "code": "card_declined",
                "message": "Your card was declined (simulated).",
            });
        }
        let body = serde_json::json!({
            "id": format!("evt_sim_{}", uuid::Uuid::now_v7().simple()),
            "object": "event",
            "type": event_type,
            "created": now_unix,
            "livemode": false,
            "data": {"object": intent},
        })
        .to_string()
        .into_bytes();
        let sig = signature::sign(&self.secret, now_unix, &body);
        Ok(Some((signature::header(now_unix, &[sig]), body)))
    }

    fn view(&self, p: &SimulatedPayment) -> ProviderPayment {
        let status = match p.status.as_str() {
            "succeeded" => PaymentStatus::Succeeded,
            "canceled" => PaymentStatus::Canceled,
            _ => PaymentStatus::RequiresPayment,
        };
        ProviderPayment {
            id: p.id.clone(),
            status,
            amount_cents: p.amount_cents,
            currency: p.currency.clone(),
            client_secret: Some(format!("{}_secret_sim", p.id)),
            redirect_url: Some(format!(
                "{}/v1/payments/simulated/{}",
                self.public_url, p.id
            )),
            last_error: None,
        }
    }
}

fn unavailable(e: tg_store::StoreError) -> ProviderError {
    ProviderError::Unavailable(e.to_string())
}

#[async_trait]
impl PaymentProvider for SimulatedProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn create_payment(&self, req: &CreatePayment) -> Result<ProviderPayment, ProviderError> {
        // The id derives from the idempotency key: a retry finds the first.
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, req.idempotency_key.as_bytes());
        let id = format!("sim_pi_{}", &crate::hex::encode(digest.as_ref())[..24]);
        let p = self
            .store
            .sim_insert(
                &SimulatedPayment {
                    id,
                    booking_id: req.booking_id,
                    amount_cents: req.amount_cents,
                    currency: req.currency.as_str().to_string(),
                    status: "requires_payment_method".into(),
                    refunded_cents: 0,
                },
                tg_store::now(),
            )
            .await
            .map_err(unavailable)?;
        if p.amount_cents != req.amount_cents || p.booking_id != req.booking_id {
            return Err(ProviderError::Rejected {
                status: 400,
                code: Some("idempotency_error".into()),
                message: "the idempotency key was used with other parameters".into(),
            });
        }
        Ok(self.view(&p))
    }

    async fn retrieve_payment(&self, id: &str) -> Result<ProviderPayment, ProviderError> {
        match self.store.sim_get(id).await.map_err(unavailable)? {
            Some(p) => Ok(self.view(&p)),
            None => Err(ProviderError::Rejected {
                status: 404,
                code: Some("resource_missing".into()),
                message: format!("no such payment: {id}"),
            }),
        }
    }

    async fn refund(
        &self,
        payment_id: &str,
        amount_cents: i64,
        idempotency_key: &str,
    ) -> Result<ProviderRefund, ProviderError> {
        let id = format!("sim_re_{idempotency_key}");
        if self
            .store
            .sim_refund(payment_id, amount_cents, tg_store::now())
            .await
            .map_err(unavailable)?
        {
            Ok(ProviderRefund {
                id,
                amount_cents,
                status: RefundStatus::Succeeded,
            })
        } else {
            Err(ProviderError::Rejected {
                status: 400,
                code: Some("amount_too_large".into()),
                message: "the refund is larger than what is left of the payment".into(),
            })
        }
    }

    fn verify_webhook(
        &self,
        signature_header: Option<&str>,
        body: &[u8],
        now_unix: i64,
    ) -> Result<WebhookEvent, WebhookError> {
        let header = signature_header.ok_or(WebhookError::MissingSignature)?;
        signature::verify(
            header,
            body,
            &[tg_http::Secret::new(self.secret.clone())],
            now_unix,
        )?;
        crate::stripe::parse_event(body)
    }
}
