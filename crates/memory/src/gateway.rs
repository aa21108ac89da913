//! A payment gateway for tests and demos, following the card-network test tokens.

use crate::lock;
use async_trait::async_trait;
use emporium_domain::model::{Money, OrderId};
use emporium_domain::ports::{Authorization, PaymentGateway};
use emporium_domain::{Error, Result};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Mutex;

/// Approves `tok_visa` (and any other `tok_…` token) and declines `tok_chargeDeclined`
/// (and `tok_chargeDeclined…` variants). A token not starting with `tok_` is declined as
/// invalid. Idempotent per order: the first answer for an order id is returned again.
///
/// A real gateway is another service that outlives our process. To play that part in
/// crash tests, the gateway can keep a journal file (one JSON line per answer or void,
/// written before the call returns) that a restarted process reads back. What it models
/// is our process dying (kill -9), not the machine: the kernel keeps what was written, so
/// the journal is not fsynced. An fsync per authorization, taken under the lock on a
/// runtime worker, stalled the whole server under the soak's 64 clients (issue 13).
#[derive(Default)]
pub struct TestPaymentGateway {
    answers: Mutex<HashMap<OrderId, Authorization>>,
    voided: Mutex<HashSet<String>>,
    refunded: Mutex<HashSet<String>>,
    journal: Option<Mutex<File>>,
    /// How long each authorization takes, as a remote gateway's round trip would.
    latency: std::time::Duration,
}

impl TestPaymentGateway {
    /// A gateway that remembers its answers in `path` across restarts.
    pub fn with_journal(path: &Path) -> std::io::Result<Self> {
        let mut gateway = TestPaymentGateway::default();
        if path.exists() {
            for line in BufReader::new(File::open(path)?).lines() {
                gateway.replay(&line?);
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        gateway.journal = Some(Mutex::new(file));
        Ok(gateway)
    }

    /// Each authorization takes `latency` before it is decided (tests of what happens to a
    /// request under way: a drain on shutdown, a timeout).
    pub fn with_latency(mut self, latency: std::time::Duration) -> Self {
        self.latency = latency;
        self
    }

    fn replay(&mut self, line: &str) {
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
            return; // a torn last line from a crash: the call never returned
        };
        let key = entry["key"]
            .as_str()
            .and_then(|k| k.parse::<OrderId>().ok());
        let answers = self.answers.get_mut().unwrap_or_else(|e| e.into_inner());
        match (key, entry["approved"].as_str(), entry["declined"].as_str()) {
            (Some(key), Some(reference), _) => {
                answers.insert(
                    key,
                    Authorization::Approved {
                        reference: reference.into(),
                    },
                );
            }
            (Some(key), None, Some(reason)) => {
                answers.insert(
                    key,
                    Authorization::Declined {
                        reason: reason.into(),
                    },
                );
            }
            _ => {}
        }
        if let Some(reference) = entry["void"].as_str() {
            self.voided
                .get_mut()
                .unwrap_or_else(|e| e.into_inner())
                .insert(reference.into());
        }
    }

    fn write(&self, entry: serde_json::Value) -> Result<()> {
        let Some(journal) = &self.journal else {
            return Ok(());
        };
        // One write call per line, so that lines of concurrent calls never interleave.
        let line = format!("{entry}\n");
        lock(journal)
            .write_all(line.as_bytes())
            .map_err(|e| Error::Unavailable(format!("payment gateway journal: {e}")))
    }

    /// How many distinct authorizations were approved (each order counts once).
    pub fn approved_count(&self) -> usize {
        lock(&self.answers)
            .values()
            .filter(|a| matches!(a, Authorization::Approved { .. }))
            .count()
    }

    pub fn is_voided(&self, reference: &str) -> bool {
        lock(&self.voided).contains(reference)
    }
}

fn answer_for(key: OrderId, token: &str) -> Authorization {
    if token.starts_with("tok_chargeDeclined") {
        Authorization::Declined {
            reason: "card declined".into(),
        }
    } else if token.starts_with("tok_") {
        Authorization::Approved {
            reference: format!("auth_{}", key.as_uuid().simple()),
        }
    } else {
        Authorization::Declined {
            reason: "invalid payment token".into(),
        }
    }
}

#[async_trait]
impl PaymentGateway for TestPaymentGateway {
    async fn authorize(
        &self,
        idempotency_key: OrderId,
        _amount: &Money,
        token: &str,
    ) -> Result<Authorization> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let mut answers = lock(&self.answers);
        if let Some(answer) = answers.get(&idempotency_key) {
            return Ok(answer.clone());
        }
        let answer = answer_for(idempotency_key, token);
        let entry = match &answer {
            Authorization::Approved { reference } => {
                json!({"key": idempotency_key, "approved": reference})
            }
            Authorization::Declined { reason } => {
                json!({"key": idempotency_key, "declined": reason})
            }
        };
        self.write(entry)?;
        answers.insert(idempotency_key, answer.clone());
        Ok(answer)
    }

    async fn lookup(&self, idempotency_key: OrderId) -> Result<Option<Authorization>> {
        Ok(lock(&self.answers).get(&idempotency_key).cloned())
    }

    async fn void(&self, reference: &str) -> Result<()> {
        let mut voided = lock(&self.voided);
        if voided.insert(reference.to_owned()) {
            self.write(json!({"void": reference}))?;
        }
        Ok(())
    }

    async fn refund(&self, reference: &str, _amount: &Money) -> Result<()> {
        lock(&self.refunded).insert(reference.to_owned());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use emporium_domain::model::Currency;

    #[tokio::test]
    async fn journal_survives_a_restart() {
        let dir = std::env::temp_dir().join(format!("gw-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("journal.jsonl");
        let (a, b) = (OrderId::new(), OrderId::new());
        let amount = Money::parse("1.00", Currency::USD).unwrap();
        {
            let gw = TestPaymentGateway::with_journal(&path).unwrap();
            gw.authorize(a, &amount, "tok_visa").await.unwrap();
            gw.authorize(b, &amount, "tok_chargeDeclined")
                .await
                .unwrap();
            gw.void("auth_x").await.unwrap();
        }
        let gw = TestPaymentGateway::with_journal(&path).unwrap();
        assert!(matches!(
            gw.lookup(a).await.unwrap(),
            Some(Authorization::Approved { .. })
        ));
        assert!(matches!(
            gw.lookup(b).await.unwrap(),
            Some(Authorization::Declined { .. })
        ));
        assert_eq!(gw.lookup(OrderId::new()).await.unwrap(), None);
        assert!(gw.is_voided("auth_x"));
        // The same key keeps its first answer even with another token.
        let again = gw.authorize(b, &amount, "tok_visa").await.unwrap();
        assert!(matches!(again, Authorization::Declined { .. }));
        assert_eq!(gw.approved_count(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
