//! The soak's report: counts, error mix, latency with and without faults, kills.

use super::*;

pub(super) fn report(
    run: &Run,
    kills: &[Kill],
    checks: &Checks,
    settle: Duration,
    load_ended: Instant,
    fuzz: Option<&Fuzz>,
    args: &SoakArgs,
) -> String {
    let samples = run.samples.lock().expect("samples");
    let windows = run.windows.lock().expect("windows");
    let disturbed = |s: &Sample| {
        windows
            .iter()
            .any(|(_, from, to)| s.at + s.latency >= *from && s.at <= *to)
    };
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(format!(
        "soak: {} clients, {} s of load (+{:.0} s of retries after it), kill -9 every {} s",
        args.clients,
        args.seconds,
        (load_ended - run.end).as_secs_f64().max(0.0),
        args.kill_every
    ));
    let mut by_op: BTreeMap<&str, usize> = BTreeMap::new();
    let mut mix: BTreeMap<String, usize> = BTreeMap::new();
    for s in samples.iter() {
        *by_op.entry(s.op).or_default() += 1;
        *mix.entry(format!("{} {}", s.op, s.outcome)).or_default() += 1;
    }
    line(format!(
        "requests: {} ({})",
        samples.len(),
        by_op
            .iter()
            .map(|(op, n)| format!("{op} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    line(format!(
        "orders: {} placed (2xx), {} cancelled (200), {} confirmed in the ledger, {} units sold; \
         {} left answerless after the grace",
        checks.placed,
        checks.cancelled,
        checks.confirmed_orders,
        checks.units_sold,
        run.unresolved.lock().expect("unresolved").len()
    ));
    line("answers:".into());
    for (what, n) in &mix {
        line(format!("  {what:<40} {n:>8}"));
    }
    let latency = |calm: bool| {
        let mut l: Vec<u64> = samples
            .iter()
            .filter(|s| disturbed(s) != calm)
            .map(|s| s.latency.as_micros() as u64)
            .collect();
        l.sort_unstable();
        (l.len(), percentile(&l, 50.0), percentile(&l, 99.0))
    };
    let (n_calm, p50_calm, p99_calm) = latency(true);
    let (n_hit, p50_hit, p99_hit) = latency(false);
    line(format!(
        "latency without faults: {n_calm} requests, p50 {p50_calm:.1} ms, p99 {p99_calm:.1} ms"
    ));
    line(format!(
        "latency during faults:  {n_hit} requests, p50 {p50_hit:.1} ms, p99 {p99_hit:.1} ms"
    ));
    line("faults:".into());
    for (what, from, to) in windows.iter().filter(|(w, ..)| w != "server killed") {
        line(format!(
            "  {:>6.1} s .. {:>6.1} s  {what}",
            from.as_secs_f64(),
            to.as_secs_f64()
        ));
    }
    line(format!("kill -9: {}", kills.len()));
    for k in kills {
        line(format!(
            "  at {:>5.0} s: serving after {:.2} s, first order placed {}",
            k.at.as_secs_f64(),
            k.serving_after.as_secs_f64(),
            k.first_order_after.map_or("never".into(), |d| format!(
                "{:.2} s after the kill",
                d.as_secs_f64()
            ))
        ));
    }
    line(format!(
        "sagas: all ended {:.1} s after the load (bound {} s)",
        settle.as_secs_f64(),
        SETTLE_BOUND.as_secs()
    ));
    if let Some(f) = fuzz {
        line(format!(
            "fuzz (schemathesis, real stores): {} operations x {} examples: {}",
            f.operations,
            f.examples,
            if f.passed { "passed" } else { "FAILED" }
        ));
        for l in f.summary.lines() {
            line(format!("  {l}"));
        }
    }
    line(format!(
        "checked against the databases: oversold={} unbalanced={} lost={} double_charged={} \
         unpaid_sales={} open_sagas={} duplicated_events={} unpublished_events={} missing_products={} \
         server_errors={}",
        checks.oversold,
        checks.unbalanced,
        checks.lost,
        checks.double_charged,
        checks.unpaid_sales,
        checks.open_sagas,
        checks.duplicated_events,
        checks.unpublished_events,
        checks.missing_products,
        checks.server_errors
    ));
    let violations = checks.violations();
    line(if violations.is_empty() {
        "violations: 0".into()
    } else {
        format!("VIOLATIONS: {}", violations.join(", "))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn host_and_port_of_store_urls() {
        assert_eq!(
            host_port("postgres://postgres@127.0.0.1:5433/emporium").unwrap(),
            "127.0.0.1:5433"
        );
        assert_eq!(
            host_port("mongodb://127.0.0.1:27018/?directConnection=true").unwrap(),
            "127.0.0.1:27018"
        );
        assert!(host_port("postgres://localhost/emporium").is_err());
    }
}
