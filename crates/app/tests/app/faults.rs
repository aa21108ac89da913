//! Faults between the app and PostgreSQL through the fault proxy (issue 13, part 1): the
//! shop slows down under latency and answers 503 (never a 500, never a hang) while
//! connections are cut, then takes orders again once the fault is gone, with stock exact.

use crate::helpers::{id, TestApp};
use emporium_chaos::{Fault, FaultProxy};
use reqwest::StatusCode;
use std::time::{Duration, Instant};

pub async fn latency_slows_orders_and_cut_connections_give_503_then_recovery(
    app: &TestApp,
    proxy: &FaultProxy,
) {
    let product = app.product("Proxied kettle", "kitchen", "10.00", 10).await;
    let pid = id(&product);
    let (status, order) = app.order("proxied", &[(pid.as_str(), 1)], "tok_visa").await;
    assert_eq!(status, StatusCode::CREATED, "{order}");

    // Latency on the ledger's connections: orders still go through.
    proxy
        .inject(
            Fault::Latency {
                latency: Duration::from_millis(200),
                jitter: Duration::ZERO,
            },
            1.0,
        )
        .await
        .unwrap();
    let (status, order) = app.order("proxied", &[(pid.as_str(), 1)], "tok_visa").await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    proxy.clear().await.unwrap();

    // Connections cut: every answer is a placed order or a 503, never a 500 or a hang.
    // (Which open connections the cut reaches is noxious's business: an open link it
    // fails to rebuild under load keeps flowing; see ADR 0030.)
    proxy.inject(Fault::Reset, 1.0).await.unwrap();
    for _ in 0..3 {
        let started = Instant::now();
        let (status, body) = app.order("proxied", &[(pid.as_str(), 1)], "tok_visa").await;
        assert!(
            status == StatusCode::CREATED || status == StatusCode::SERVICE_UNAVAILABLE,
            "{status}: {body}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(12),
            "{:?}",
            started.elapsed()
        );
    }
    proxy.clear().await.unwrap();

    // Back: the fail-fast wrapper lets calls through once a ping answers.
    an_order_is_placed_again(app, &pid, "proxied", "the ledger never came back").await;
    // What the ledger holds after cut connections is not checked here yet: a 503 can
    // answer an order whose commit landed (in doubt), and one run under CI load ended with
    // one unit more sold than confirmed orders (issue 13's note). The soak's checks
    // against the databases are where that belongs.
    let (status, product) = app.get(&format!("/products/{pid}")).await;
    assert_eq!(status, StatusCode::OK, "{product}");
}

/// A black hole swallows requests in flight on every pooled connection, more of them than
/// the pool has connections; the calls give up at their deadline (503, never a hang).
/// Once it is gone the shop takes orders again within 30 s.
///
/// The soak found the pool wedged for good after such faults (issue 13; ADR 0031): a
/// connection whose ping the network swallowed held its slot forever. This test does not
/// reproduce that on its own: here the proxy closes the swallowed links when the fault is
/// cleared, or PostgreSQL ends them (idle in transaction), so the pool sees an error
/// rather than silence. It guards the recovery path the fix relies on.
pub async fn a_black_hole_does_not_wedge_the_pool(app: &TestApp, proxy: &FaultProxy) {
    let product = app.product("Black hole lamp", "home", "7.00", 100).await;
    let pid = id(&product);
    let (status, order) = app.order("hole", &[(pid.as_str(), 1)], "tok_visa").await;
    assert_eq!(status, StatusCode::CREATED, "{order}");

    proxy.inject(Fault::BlackHole, 1.0).await.unwrap();
    // More requests at once than the pool has connections (4 on 2 cores).
    let swallowed = (0..8).map(|_| async {
        let started = Instant::now();
        let (status, body) = app.order("hole", &[(pid.as_str(), 1)], "tok_visa").await;
        (status, body, started.elapsed())
    });
    for (status, body, took) in futures::future::join_all(swallowed).await {
        assert!(
            status == StatusCode::CREATED || status == StatusCode::SERVICE_UNAVAILABLE,
            "{status}: {body}"
        );
        assert!(took < Duration::from_secs(15), "answered after {took:?}");
    }
    proxy.clear().await.unwrap();
    an_order_is_placed_again(
        app,
        &pid,
        "hole",
        "no order placed after the black hole went",
    )
    .await;
}

/// Orders one unit of `product` every 250 ms until one is placed (201), within 30 s; every
/// answer before it must be a 503.
async fn an_order_is_placed_again(app: &TestApp, product: &str, customer: &str, failure: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = app.order(customer, &[(product, 1)], "tok_visa").await;
        if status == StatusCode::CREATED {
            return;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(Instant::now() < deadline, "{failure} (30 s): {body}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `emporium chaos` (the seed's chaos engine): a proxy in front of the store the settings
/// name, printing where to point the app, with latency put in on its schedule.
pub async fn the_chaos_command_puts_latency_in_on_its_schedule() {
    use sqlx::Connection;
    use tokio::io::AsyncBufReadExt;
    let pg = emporium_testkit::harness::postgres::TestPostgres::from_template(
        &emporium_postgres::migrations_digest(),
        |url| async move { Ok(emporium_postgres::migrate_database(&url).await?) },
    )
    .await
    .expect("test PostgreSQL database");
    let mut chaos = tokio::process::Command::new(env!("CARGO_BIN_EXE_emporium"))
        .args([
            "chaos",
            "--target",
            "postgres",
            "--latency",
            "300ms",
            "--every",
            "1s",
            "--for",
            "3s",
        ])
        .env("EMPORIUM_POSTGRES_URL", &pg.url)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("emporium chaos starts");
    let mut lines = tokio::io::BufReader::new(chaos.stdout.take().unwrap()).lines();
    let banner = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("a banner")
        .unwrap()
        .expect("a line");
    let at = banner
        .rsplit(" at ")
        .next()
        .unwrap_or_else(|| panic!("{banner}"))
        .to_owned();
    let (user, rest) = pg.url.split_once('@').unwrap();
    let db = rest.split_once('/').unwrap().1;
    let through = format!("{user}@{at}/{db}");
    let mut conn = sqlx::PgConnection::connect(&through)
        .await
        .unwrap_or_else(|e| panic!("{through}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let started = Instant::now();
        let one: i32 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(one, 1);
        if started.elapsed() >= Duration::from_millis(300) {
            break;
        }
        assert!(Instant::now() < deadline, "the latency never came");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = chaos.kill().await;
}
