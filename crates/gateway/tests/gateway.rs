//! The HTTP payment gateway against the simulator, run as a separate process the way a real
//! gateway would be: approvals, declines, timeouts, server errors, outages, idempotency.

use emporium_domain::model::{Currency, Money, OrderId};
use emporium_domain::ports::{Authorization, PaymentGateway};
use emporium_domain::Error;
use emporium_gateway::{HttpGatewayConfig, HttpPaymentGateway};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

const API_KEY: &str = "sk_test_gateway_suite";

/// One simulator process, killed when dropped.
struct Simulator {
    child: Child,
    base_url: String,
    _stdout: BufReader<ChildStdout>,
}

impl Simulator {
    fn start() -> Self {
        Self::start_with(&[])
    }

    fn start_with(extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_emporium-gateway-simulator"))
            .args(["--port", "0", "--api-key", API_KEY])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the gateway simulator");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let read = reader.read_line(&mut line);
            let _ = tx.send((read.map(|_| line), reader));
        });
        let received = rx.recv_timeout(Duration::from_secs(20));
        let (line, reader) = match received {
            Ok((Ok(line), reader)) => (line, reader),
            other => {
                let _ = child.kill();
                panic!(
                    "the simulator did not say where it listens: {:?}",
                    other.map(|r| r.0)
                );
            }
        };
        let address = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from the simulator: {line:?}"));
        Simulator {
            child,
            base_url: format!("http://{address}"),
            _stdout: reader,
        }
    }

    /// Quick settings so failure cases stay fast: 2 s per attempt, 3 attempts, 20 ms backoff.
    fn config(&self) -> HttpGatewayConfig {
        HttpGatewayConfig {
            timeout: Duration::from_secs(2),
            backoff: Duration::from_millis(20),
            ..HttpGatewayConfig::new(&self.base_url, API_KEY)
        }
    }

    fn gateway(&self) -> HttpPaymentGateway {
        HttpPaymentGateway::new(self.config()).unwrap()
    }

    async fn stats(&self) -> Value {
        reqwest::get(format!("{}/__sim/stats", self.base_url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// How many times the gateway authorized (approved or declined) for `key`.
    async fn authorizations(&self, key: OrderId) -> u64 {
        self.stats().await["authorizations"][key.to_string()]
            .as_u64()
            .unwrap_or(0)
    }

    /// How many authorization requests for `key` reached the gateway.
    async fn requests(&self, key: OrderId) -> u64 {
        self.stats().await["requests"][key.to_string()]
            .as_u64()
            .unwrap_or(0)
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn usd(amount: &str) -> Money {
    Money::parse(amount, Currency::USD).unwrap()
}

fn reference(answer: &Authorization) -> String {
    match answer {
        Authorization::Approved { reference } => reference.clone(),
        other => panic!("expected an approval, got {other:?}"),
    }
}

#[tokio::test]
async fn approves_a_good_card_and_lookup_returns_the_approval() {
    let sim = Simulator::start();
    let gateway = sim.gateway();
    let order = OrderId::new();

    let answer = gateway
        .authorize(order, &usd("129.99"), "tok_visa")
        .await
        .unwrap();

    let reference = reference(&answer);
    assert!(reference.starts_with("pi_"), "{reference}");
    assert_eq!(gateway.lookup(order).await.unwrap(), Some(answer));
    assert_eq!(sim.authorizations(order).await, 1);
}

#[tokio::test]
async fn declines_with_the_reason_and_remembers_the_decline() {
    let sim = Simulator::start();
    let gateway = sim.gateway();
    let cases = [
        ("tok_chargeDeclined", "card declined"),
        (
            "tok_chargeDeclinedInsufficientFunds",
            "card declined: insufficient funds",
        ),
        ("tok_chargeDeclinedExpiredCard", "expired card"),
        ("4242424242424242", "invalid payment token"),
    ];
    for (token, reason) in cases {
        let order = OrderId::new();
        let declined = Authorization::Declined {
            reason: reason.into(),
        };

        let answer = gateway.authorize(order, &usd("10"), token).await.unwrap();

        assert_eq!(answer, declined, "token {token}");
        assert_eq!(gateway.lookup(order).await.unwrap(), Some(declined.clone()));
        // Asking again replays the decline; the card is not tried a second time.
        let again = gateway.authorize(order, &usd("10"), token).await.unwrap();
        assert_eq!(again, declined);
        assert_eq!(sim.authorizations(order).await, 1, "token {token}");
    }
}

#[tokio::test]
async fn a_timed_out_authorization_is_in_doubt_until_lookup_finds_it() {
    let sim = Simulator::start_with(&["--slow-ms", "1500"]);
    let impatient = HttpPaymentGateway::new(HttpGatewayConfig {
        timeout: Duration::from_millis(300),
        attempts: 1,
        ..sim.config()
    })
    .unwrap();
    let order = OrderId::new();

    let started = Instant::now();
    let err = impatient
        .authorize(order, &usd("50"), "tok_timeout")
        .await
        .unwrap_err();

    assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
    assert!(err.is_transient());
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "{:?}",
        started.elapsed()
    );
    // The gateway did authorize: recovery finds it ...
    let found = impatient.lookup(order).await.unwrap().expect("an answer");
    let first = reference(&found);
    // ... and authorizing again with the same key returns that payment, not a new one.
    let again = impatient
        .authorize(order, &usd("50"), "tok_timeout")
        .await
        .unwrap();
    assert_eq!(reference(&again), first);
    assert_eq!(sim.authorizations(order).await, 1);
}

#[tokio::test]
async fn a_slow_answer_is_retried_with_the_same_key_and_charges_once() {
    let sim = Simulator::start_with(&["--slow-ms", "1500"]);
    let gateway = HttpPaymentGateway::new(HttpGatewayConfig {
        timeout: Duration::from_millis(300),
        ..sim.config()
    })
    .unwrap();
    let order = OrderId::new();

    let answer = gateway
        .authorize(order, &usd("50"), "tok_timeout")
        .await
        .unwrap();

    assert_eq!(gateway.lookup(order).await.unwrap(), Some(answer));
    assert_eq!(sim.requests(order).await, 2);
    assert_eq!(sim.authorizations(order).await, 1);
}

#[tokio::test]
async fn a_server_error_is_retried_and_authorizes_once() {
    let sim = Simulator::start();
    let gateway = sim.gateway();
    let order = OrderId::new();

    let answer = gateway
        .authorize(order, &usd("75.50"), "tok_flaky")
        .await
        .unwrap();

    reference(&answer);
    assert_eq!(sim.requests(order).await, 2, "one 500, then the approval");
    assert_eq!(sim.authorizations(order).await, 1);
}

#[tokio::test]
async fn a_gateway_that_stays_down_gives_a_transient_error_in_bounded_time() {
    let sim = Simulator::start();
    let gateway = sim.gateway();
    let order = OrderId::new();

    let started = Instant::now();
    let err = gateway
        .authorize(order, &usd("20"), "tok_unavailable")
        .await
        .unwrap_err();

    assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("503"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(sim.requests(order).await, 3, "every attempt, same key");
    assert_eq!(gateway.lookup(order).await.unwrap(), None);
}

#[tokio::test]
async fn an_unreachable_gateway_gives_a_transient_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let gateway = HttpPaymentGateway::new(HttpGatewayConfig {
        timeout: Duration::from_millis(500),
        backoff: Duration::from_millis(10),
        ..HttpGatewayConfig::new(format!("http://127.0.0.1:{port}"), API_KEY)
    })
    .unwrap();

    let started = Instant::now();
    let err = gateway
        .authorize(OrderId::new(), &usd("20"), "tok_visa")
        .await
        .unwrap_err();

    assert!(err.is_transient(), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_same_key_gets_the_first_answer() {
    let sim = Simulator::start();
    let gateway = sim.gateway();
    let order = OrderId::new();

    let first = gateway
        .authorize(order, &usd("30"), "tok_visa")
        .await
        .unwrap();
    let double_click = gateway
        .authorize(order, &usd("30"), "tok_visa")
        .await
        .unwrap();
    // Other parameters under the same key: the gateway refuses to act, the first answer stands.
    let changed = gateway
        .authorize(order, &usd("31"), "tok_chargeDeclined")
        .await
        .unwrap();

    assert_eq!(double_click, first);
    assert_eq!(changed, first);
    assert_eq!(sim.authorizations(order).await, 1);
}

#[tokio::test]
async fn lookup_of_an_unknown_order_is_none() {
    let sim = Simulator::start();

    assert_eq!(sim.gateway().lookup(OrderId::new()).await.unwrap(), None);
}

#[tokio::test]
async fn voiding_twice_is_harmless() {
    let sim = Simulator::start();
    let gateway = sim.gateway();
    let order = OrderId::new();
    let answer = gateway
        .authorize(order, &usd("40"), "tok_visa")
        .await
        .unwrap();
    let reference = reference(&answer);

    gateway.void(&reference).await.unwrap();
    gateway.void(&reference).await.unwrap();

    assert_eq!(sim.stats().await["cancellations"][&reference], 1);
    // The answer given stays the answer: lookup still reports the approval.
    assert_eq!(gateway.lookup(order).await.unwrap(), Some(answer));
    let unknown = gateway.void("pi_unknown").await.unwrap_err();
    assert!(matches!(unknown, Error::NotFound(_)), "{unknown:?}");
}

#[tokio::test]
async fn refunding_twice_refunds_once() {
    let sim = Simulator::start();
    let gateway = sim.gateway();
    let amount = usd("99.95");
    let answer = gateway
        .authorize(OrderId::new(), &amount, "tok_visa")
        .await
        .unwrap();
    let reference = reference(&answer);

    gateway.refund(&reference, &amount).await.unwrap();
    gateway.refund(&reference, &amount).await.unwrap();

    assert_eq!(sim.stats().await["refunds"][&reference], 1);
}

#[tokio::test]
async fn a_wrong_api_key_is_a_clear_permanent_error() {
    let sim = Simulator::start();
    let gateway = HttpPaymentGateway::new(HttpGatewayConfig {
        api_key: "sk_wrong".into(),
        ..sim.config()
    })
    .unwrap();
    let order = OrderId::new();

    let started = Instant::now();
    let err = gateway
        .authorize(order, &usd("10"), "tok_visa")
        .await
        .unwrap_err();

    assert!(matches!(err, Error::Internal(_)), "{err:?}");
    assert!(!err.is_transient());
    assert!(err.to_string().contains("API key"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(1), "not retried");
    assert!(matches!(
        gateway.lookup(order).await,
        Err(Error::Internal(_))
    ));
    assert_eq!(sim.authorizations(order).await, 0);
}

#[tokio::test]
async fn an_amount_the_currency_cannot_hold_is_refused_not_rounded() {
    let sim = Simulator::start();
    let yen = Money::parse("1250.50", Currency::parse("JPY").unwrap()).unwrap();
    let order = OrderId::new();

    let err = sim
        .gateway()
        .authorize(order, &yen, "tok_visa")
        .await
        .unwrap_err();

    assert!(matches!(err, Error::Validation(_)), "{err:?}");
    assert_eq!(sim.requests(order).await, 0, "nothing was sent");
}
