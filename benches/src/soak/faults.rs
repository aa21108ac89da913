//! What the soak does to the stack: the fault schedule, kill -9 of the server, and the
//! store restarts.

use super::*;

fn schedule(seconds: u64) -> Vec<(f64, Disturbance, Duration)> {
    let window = Duration::from_secs((seconds / 12).clamp(3, 20));
    let short = Duration::from_secs((seconds / 30).clamp(2, 6));
    let latency = Fault::Latency {
        latency: Duration::from_millis(100),
        jitter: Duration::from_millis(50),
    };
    use Disturbance::*;
    vec![
        (0.08, Proxy("postgres", latency, 1.0), window),
        (0.18, Proxy("mongodb", latency, 1.0), window),
        (0.28, Proxy("postgres", Fault::Reset, 0.5), short),
        (0.36, RestartPostgres, short),
        (0.46, Proxy("mongodb", Fault::Reset, 0.5), short),
        (
            0.54,
            Proxy(
                "mongodb",
                Fault::Bandwidth {
                    kilobytes_per_second: 512,
                },
                1.0,
            ),
            window,
        ),
        (0.64, RestartMongodb, short),
        (0.74, Proxy("postgres", Fault::HalfOpen, 0.3), short),
        (0.84, Proxy("mongodb", Fault::BlackHole, 0.3), short),
        (
            0.90,
            Proxy(
                "postgres",
                Fault::Bandwidth {
                    kilobytes_per_second: 512,
                },
                1.0,
            ),
            short,
        ),
    ]
}

/// Kills and restarts the server every `kill_every`, and runs the schedule's faults beside.
pub(super) async fn disturb(
    app: &mut App,
    stack: &Stack,
    proxies: &Proxies,
    run: &Arc<Run>,
    args: &SoakArgs,
) -> Result<Vec<Kill>> {
    let total = Duration::from_secs(args.seconds);
    let faults = async {
        for (at, what, length) in schedule(args.seconds) {
            let due = run.started + total.mul_f64(at);
            tokio::time::sleep_until(due.into()).await;
            let from = Instant::now();
            let name = match what {
                Disturbance::Proxy(target, fault, toxicity) => {
                    let proxy = if target == "postgres" {
                        &proxies.postgres
                    } else {
                        &proxies.mongodb
                    };
                    proxy.inject(fault, toxicity).await?;
                    tokio::time::sleep(length).await;
                    proxy.clear().await?;
                    format!(
                        "{target} {fault:?} ({:.0}% of connections)",
                        toxicity * 100.0
                    )
                }
                Disturbance::RestartPostgres => {
                    restart_postgres(stack, length).await?;
                    "postgres restarted (immediate stop)".into()
                }
                Disturbance::RestartMongodb => {
                    restart_mongodb(stack, length).await?;
                    "mongodb killed and restarted".into()
                }
            };
            eprintln!("  {name}: {:.1} s", from.elapsed().as_secs_f64());
            run.window(name, from, Instant::now());
        }
        Ok::<_, anyhow::Error>(())
    };
    let kills = async {
        let mut kills = Vec::new();
        let every = Duration::from_secs(args.kill_every.max(1));
        let mut due = run.started + every;
        while due + Duration::from_secs(2) < run.end {
            tokio::time::sleep_until(due.into()).await;
            let at = Instant::now();
            app.kill().await;
            app.spawn().await?;
            let serving_after = app.wait_serving(Duration::from_secs(60)).await?;
            run.window("server killed".into(), at, Instant::now());
            eprintln!(
                "  kill -9 at {:.0} s: serving again after {:.2} s",
                (at - run.started).as_secs_f64(),
                serving_after.as_secs_f64()
            );
            kills.push(Kill {
                at: at - run.started,
                serving_after,
                first_order_after: None,
            });
            due += every;
        }
        Ok::<_, anyhow::Error>(kills)
    };
    let (faults, kills) = tokio::join!(faults, kills);
    faults?;
    let mut kills = kills?;
    tokio::time::sleep_until(run.end.into()).await;
    let samples = run.samples.lock().expect("samples");
    for kill in &mut kills {
        kill.first_order_after = samples
            .iter()
            .filter(|s| s.op == "place" && s.outcome == "201" && s.at > kill.at)
            .map(|s| s.at + s.latency - kill.at)
            .min();
    }
    Ok(kills)
}

/// The stack's PostgreSQL: `pg_ctl stop -m immediate` (what a crash leaves), down for
/// `down`, then started again (crash recovery).
async fn restart_postgres(stack: &Stack, down: Duration) -> Result<()> {
    let bindir = PathBuf::from(stack.var("EMPORIUM_BACKUP_PG_BINDIR")?);
    let data = PathBuf::from(stack.var("EMPORIUM_BACKUP_PG_DATA")?);
    let log = data.parent().unwrap_or(&data).join("server.log");
    let run_as = stack.var("EMPORIUM_BACKUP_RUN_AS").ok();
    let pg_ctl = |args: Vec<String>| {
        let mut command = match &run_as {
            Some(user) => {
                let mut c = tokio::process::Command::new("runuser");
                c.args(["-u", user, "--"]).arg(bindir.join("pg_ctl"));
                c
            }
            None => tokio::process::Command::new(bindir.join("pg_ctl")),
        };
        command.arg("-D").arg(&data).args(args);
        command
    };
    succeed(
        &mut pg_ctl(vec![
            "stop".into(),
            "-m".into(),
            "immediate".into(),
            "-w".into(),
        ]),
        "pg_ctl stop",
    )
    .await?;
    tokio::time::sleep(down).await;
    succeed(
        &mut pg_ctl(vec![
            "start".into(),
            "-w".into(),
            "-t".into(),
            "120".into(),
            "-l".into(),
            log.display().to_string(),
        ]),
        "pg_ctl start",
    )
    .await?;
    Ok(())
}

/// The stack's MongoDB stand-in: kill -9, down for `down`, then `up --private` starts it
/// again on the same storage.
async fn restart_mongodb(stack: &Stack, down: Duration) -> Result<()> {
    let pid = std::fs::read_to_string(stack.dir.join("mongo.pid"))?;
    let status = tokio::process::Command::new("kill")
        .args(["-9", pid.trim()])
        .status()
        .await?;
    if !status.success() {
        bail!("kill -9 {pid} failed");
    }
    tokio::time::sleep(down).await;
    stack.start().await?;
    Ok(())
}
