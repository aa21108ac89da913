//! The parts of Stripe's JSON the adapter reads, and what they mean for the port.

use emporium_domain::ports::Authorization;
use serde::Deserialize;

/// A PaymentIntent, as much of it as we read.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Intent {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub last_payment_error: Option<ApiError>,
}

/// `GET /v1/payment_intents/search`.
#[derive(Debug, Deserialize)]
pub(crate) struct SearchResult {
    pub data: Vec<Intent>,
}

/// The body of every 4xx/5xx answer: `{"error": {...}}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    pub error: ApiError,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ApiError {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub decline_code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub param: Option<String>,
    #[serde(default)]
    pub payment_intent: Option<Box<Intent>>,
}

impl ApiError {
    pub fn code(&self) -> &str {
        self.code.as_deref().unwrap_or("")
    }

    pub fn message(&self) -> String {
        self.message.clone().unwrap_or_else(|| {
            if self.kind.is_empty() {
                "no error message".into()
            } else {
                self.kind.clone()
            }
        })
    }

    /// The decline reason we record, in the words of the test gateway: `card declined`,
    /// `card declined: insufficient funds`, `expired card`, `invalid payment token`.
    pub fn decline_reason(&self) -> String {
        match (self.code(), self.decline_code.as_deref()) {
            ("card_declined", None | Some("generic_decline")) => "card declined".into(),
            ("card_declined", Some(why)) => format!("card declined: {}", why.replace('_', " ")),
            ("invalid_payment_method" | "resource_missing", _) => "invalid payment token".into(),
            ("", _) => "card declined".into(),
            (code, _) => code.replace('_', " "),
        }
    }
}

/// What an intent says about its authorization, `None` when it holds no answer yet
/// (never confirmed).
pub(crate) fn answer_of(intent: &Intent) -> Option<Authorization> {
    if let Some(error) = &intent.last_payment_error {
        if intent.status == "requires_payment_method" || intent.status == "canceled" {
            return Some(Authorization::Declined {
                reason: error.decline_reason(),
            });
        }
    }
    match intent.status.as_str() {
        // Authorized (and maybe captured, or voided since: the answer given stays approved).
        "requires_capture" | "processing" | "succeeded" | "canceled" => {
            Some(Authorization::Approved {
                reference: intent.id.clone(),
            })
        }
        "requires_action" => Some(Authorization::Declined {
            reason: "card requires customer authentication, which this checkout does not support"
                .into(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(json: serde_json::Value) -> Intent {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn reads_answers_from_intents() {
        let approved = intent(serde_json::json!({"id": "pi_1", "status": "requires_capture"}));
        assert_eq!(
            answer_of(&approved),
            Some(Authorization::Approved {
                reference: "pi_1".into()
            })
        );
        let declined = intent(serde_json::json!({
            "id": "pi_2", "status": "requires_payment_method",
            "last_payment_error": {"type": "card_error", "code": "card_declined",
                                   "decline_code": "insufficient_funds"}
        }));
        assert_eq!(
            answer_of(&declined),
            Some(Authorization::Declined {
                reason: "card declined: insufficient funds".into()
            })
        );
        let fresh = intent(serde_json::json!({"id": "pi_3", "status": "requires_confirmation"}));
        assert_eq!(answer_of(&fresh), None);
    }
}
