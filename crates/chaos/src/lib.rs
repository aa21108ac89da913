//! Faults between the app and a store (issue 13): a TCP proxy that sits on `listen` and
//! forwards to `upstream`, into whose links faults are put and taken out while
//! connections stay open. The proxy is noxious, a Rust port of Toxiproxy, embedded: the
//! same toxics, without a separate process or its HTTP API.
//!
//! | [`Fault`] | noxious toxic | what a client sees |
//! |---|---|---|
//! | `Latency { latency, jitter }` | `latency` (both directions) | every answer later by latency ± jitter |
//! | `Bandwidth { kilobytes_per_second }` | `bandwidth` | answers trickle |
//! | `Reset` | `timeout` of 1 ms (both directions) | nothing gets through, and the connection is closed |
//! | `BlackHole` | `timeout` of 0 (both directions) | nothing arrives, nothing is closed |
//! | `HalfOpen` | `timeout` of 0, downstream only | requests go out, answers never come back |
//!
//! Each fault applies with a probability (`toxicity`): per connection, as in Toxiproxy.

use noxious::proxy::{ProxyConfig, ProxyRunner, Runner, Toxics};
use noxious::signal::{Close, Stop, Stopper};
use noxious::toxic::{StreamDirection, Toxic, ToxicEvent, ToxicEventKind, ToxicKind};
use std::time::Duration;

/// The lowest bandwidth limit the proxy takes. noxious 1.0.4's bandwidth toxic splits a
/// chunk larger than `rate × 100` bytes into 100-byte pieces while it counts 100 ms per
/// piece against the chunk's whole delay, which underflows and panics the link's task
/// ("overflow when subtracting durations"; found by the soak, issue 13). Links read up to
/// 32 KB at a time, so from this rate on no chunk is ever split.
pub const MIN_KILOBYTES_PER_SECOND: u64 = 328;

/// A fault between the app and a store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    Latency { latency: Duration, jitter: Duration },
    Bandwidth { kilobytes_per_second: u64 },
    Reset,
    BlackHole,
    HalfOpen,
}

#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    #[error("the fault proxy cannot listen on {listen}: {error}")]
    Listen {
        listen: String,
        error: std::io::Error,
    },
    #[error("the fault proxy stopped taking changes")]
    Gone,
    #[error("the fault proxy refused a change: {0}")]
    Refused(String),
}

impl Fault {
    /// The noxious toxics of this fault, each active with probability `toxicity`.
    fn toxics(self, toxicity: f32) -> Vec<Toxic> {
        let toxic = |name: &str, kind: ToxicKind, direction: StreamDirection| Toxic {
            kind,
            name: name.to_owned(),
            toxicity,
            direction,
        };
        let millis = |d: Duration| d.as_millis() as u64;
        match self {
            Fault::Latency { latency, jitter } => {
                let kind = ToxicKind::Latency {
                    latency: millis(latency),
                    jitter: millis(jitter),
                };
                vec![
                    toxic("latency_down", kind, StreamDirection::Downstream),
                    toxic("latency_up", kind, StreamDirection::Upstream),
                ]
            }
            Fault::Bandwidth {
                kilobytes_per_second,
            } => vec![toxic(
                "bandwidth",
                ToxicKind::Bandwidth {
                    rate: kilobytes_per_second,
                },
                StreamDirection::Downstream,
            )],
            // Nothing gets through, and the connection is closed a millisecond later. (A
            // `limit_data` of 0 lets a first chunk through before closing.)
            Fault::Reset => vec![
                toxic(
                    "reset_down",
                    ToxicKind::Timeout { timeout: 1 },
                    StreamDirection::Downstream,
                ),
                toxic(
                    "reset_up",
                    ToxicKind::Timeout { timeout: 1 },
                    StreamDirection::Upstream,
                ),
            ],
            Fault::BlackHole => vec![
                toxic(
                    "black_hole_down",
                    ToxicKind::Timeout { timeout: 0 },
                    StreamDirection::Downstream,
                ),
                toxic(
                    "black_hole_up",
                    ToxicKind::Timeout { timeout: 0 },
                    StreamDirection::Upstream,
                ),
            ],
            Fault::HalfOpen => vec![toxic(
                "half_open",
                ToxicKind::Timeout { timeout: 0 },
                StreamDirection::Downstream,
            )],
        }
    }
}

/// A running fault proxy. Dropping it stops it and closes its connections.
pub struct FaultProxy {
    name: String,
    port: u16,
    changes: bmrng::RequestSender<ToxicEvent, Result<(), noxious::error::ToxicUpdateError>>,
    stopper: Option<Stopper>,
    /// The toxics put in and not yet taken out, by name.
    active: std::sync::Mutex<Vec<String>>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("name", &self.name)
            .field("port", &self.port)
            .finish()
    }
}

impl FaultProxy {
    /// Listens on `listen` (`127.0.0.1:0` for a free port) and forwards every connection
    /// to `upstream` (`host:port`), without faults until [`FaultProxy::inject`].
    pub async fn start(name: &str, listen: &str, upstream: &str) -> Result<FaultProxy, ChaosError> {
        // noxious binds the listen address itself; a port 0 is resolved first so the
        // caller learns the port.
        let listen = resolve_port(listen).map_err(|error| ChaosError::Listen {
            listen: listen.to_owned(),
            error,
        })?;
        let config = ProxyConfig {
            name: name.to_owned(),
            listen: listen.clone(),
            upstream: upstream.to_owned(),
            enabled: true,
            rand_seed: None,
        };
        let (listener, info) =
            ProxyRunner::initialize_proxy::<noxious::socket::TcpListener>(config, Toxics::empty())
                .await
                .map_err(|error| ChaosError::Listen {
                    listen: listen.clone(),
                    error,
                })?;
        let (changes, receiver) = bmrng::channel(16);
        let (stop, stopper) = Stop::new();
        let (_close, closer) = Close::new();
        tokio::spawn(async move {
            if let Err(e) = ProxyRunner::run_proxy(listener, info, receiver, stop, closer).await {
                tracing::error!(error = %e, "the fault proxy stopped");
            }
        });
        let port = listen
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or(0);
        Ok(FaultProxy {
            name: name.to_owned(),
            port,
            changes,
            stopper: Some(stopper),
            active: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// The port the proxy listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    async fn change(&self, kind: ToxicEventKind) -> Result<(), ChaosError> {
        self.changes
            .send_receive(ToxicEvent::new(self.name.clone(), kind))
            .await
            .map_err(|_| ChaosError::Gone)?
            .map_err(|e| ChaosError::Refused(format!("{e:?}")))
    }

    /// Puts `fault` into every connection, open or new, each with probability `toxicity`
    /// (0 to 1). Faults add up; [`FaultProxy::clear`] removes them all.
    pub async fn inject(&self, fault: Fault, toxicity: f32) -> Result<(), ChaosError> {
        if let Fault::Bandwidth {
            kilobytes_per_second,
        } = fault
        {
            if kilobytes_per_second < MIN_KILOBYTES_PER_SECOND {
                return Err(ChaosError::Refused(format!(
                    "a bandwidth limit of {kilobytes_per_second} KB/s: the proxy's bandwidth \
                     fault breaks below {MIN_KILOBYTES_PER_SECOND} KB/s (noxious 1.0.4)"
                )));
            }
        }
        for toxic in fault.toxics(toxicity.clamp(0.0, 1.0)) {
            let name = toxic.name.clone();
            self.change(ToxicEventKind::AddToxic(toxic)).await?;
            if let Ok(mut active) = self.active.lock() {
                active.push(name);
            }
        }
        tracing::warn!(proxy = %self.name, ?fault, toxicity, "fault injected");
        Ok(())
    }

    /// Takes every fault out; connections carry on.
    pub async fn clear(&self) -> Result<(), ChaosError> {
        // One by one: noxious 1.0.4's "remove all" empties the upstream toxics only.
        let names = self
            .active
            .lock()
            .map(|mut active| std::mem::take(&mut *active))
            .unwrap_or_default();
        for name in names {
            self.change(ToxicEventKind::RemoveToxic(name)).await?;
        }
        tracing::warn!(proxy = %self.name, "faults cleared");
        Ok(())
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stopper) = self.stopper.take() {
            stopper.stop();
        }
    }
}

/// `host:0` with a free port chosen; any other address as it is.
fn resolve_port(listen: &str) -> std::io::Result<String> {
    match listen.rsplit_once(':') {
        Some((host, "0")) => {
            let port = std::net::TcpListener::bind((host, 0))?.local_addr()?.port();
            Ok(format!("{host}:{port}"))
        }
        _ => Ok(listen.to_owned()),
    }
}

/// When faults come and go: every `min..max` (a random pause in between), for `length`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub every_min: Duration,
    pub every_max: Duration,
    pub length: Duration,
}

/// A duration as the chaos command takes it: `100ms`, `30s`, `2m`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` has no unit (ms, s, m or h)"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a number"))?;
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        other => return Err(format!("`{other}` is not a unit (ms, s, m or h)")),
    })
}

impl Schedule {
    /// `every` is `2m..5m` (or one duration), `length` a duration.
    pub fn parse(every: &str, length: &str) -> Result<Schedule, String> {
        let (min, max) = match every.split_once("..") {
            Some((a, b)) => (parse_duration(a)?, parse_duration(b)?),
            None => {
                let d = parse_duration(every)?;
                (d, d)
            }
        };
        if min > max {
            return Err(format!("`{every}`: the first bound is above the second"));
        }
        Ok(Schedule {
            every_min: min,
            every_max: max,
            length: parse_duration(length)?,
        })
    }

    /// The next pause before a fault.
    pub fn next_pause(&self) -> Duration {
        use rand::Rng;
        if self.every_min == self.every_max {
            return self.every_min;
        }
        let (a, b) = (
            self.every_min.as_millis() as u64,
            self.every_max.as_millis() as u64,
        );
        Duration::from_millis(rand::rng().random_range(a..=b))
    }
}

/// Runs `fault` on `proxy` by `schedule` until `stop` resolves: pause, fault for its
/// length, clear, again.
pub async fn run_schedule(
    proxy: &FaultProxy,
    fault: Fault,
    toxicity: f32,
    schedule: Schedule,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), ChaosError> {
    tokio::pin!(stop);
    loop {
        let pause = schedule.next_pause();
        tracing::info!(?pause, "next fault after");
        tokio::select! {
            _ = &mut stop => return proxy.clear().await,
            _ = tokio::time::sleep(pause) => {}
        }
        proxy.inject(fault, toxicity).await?;
        tokio::select! {
            _ = &mut stop => return proxy.clear().await,
            _ = tokio::time::sleep(schedule.length) => {}
        }
        proxy.clear().await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn schedules_and_durations_are_read_as_the_command_takes_them() {
        let s = Schedule::parse("2m..5m", "30s").unwrap();
        assert_eq!(
            (s.every_min, s.every_max, s.length),
            (
                Duration::from_secs(120),
                Duration::from_secs(300),
                Duration::from_secs(30)
            )
        );
        for _ in 0..100 {
            let p = s.next_pause();
            assert!(p >= s.every_min && p <= s.every_max, "{p:?}");
        }
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert!(Schedule::parse("5m..2m", "1s").is_err());
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("10d").is_err());
    }

    #[tokio::test]
    async fn a_bandwidth_limit_the_proxy_cannot_keep_is_refused() {
        let proxy = FaultProxy::start("test", "127.0.0.1:0", "127.0.0.1:9")
            .await
            .unwrap();
        let slow = Fault::Bandwidth {
            kilobytes_per_second: 64,
        };
        assert!(matches!(
            proxy.inject(slow, 1.0).await,
            Err(ChaosError::Refused(_))
        ));
        let kept = Fault::Bandwidth {
            kilobytes_per_second: MIN_KILOBYTES_PER_SECOND,
        };
        proxy.inject(kept, 1.0).await.unwrap();
    }

    /// An echo server behind the proxy: a round trip is fast, then slowed by a latency
    /// fault on the open connection, then cut by a reset, and fast again once cleared.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn faults_go_into_open_connections_and_come_out_again() {
        let echo = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = echo.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = echo.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 || socket.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let proxy = FaultProxy::start("echo", "127.0.0.1:0", &upstream)
            .await
            .unwrap();
        let connect = || tokio::net::TcpStream::connect(("127.0.0.1", proxy.port()));
        let round_trip = |mut s: tokio::net::TcpStream| async move {
            let started = std::time::Instant::now();
            s.write_all(b"ping").await?;
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).await?;
            Ok::<_, std::io::Error>((s, started.elapsed()))
        };
        let (stream, fast) = round_trip(connect().await.unwrap()).await.unwrap();
        assert!(fast < Duration::from_millis(100), "{fast:?}");

        proxy
            .inject(
                Fault::Latency {
                    latency: Duration::from_millis(150),
                    jitter: Duration::ZERO,
                },
                1.0,
            )
            .await
            .unwrap();
        let (_, slow) = round_trip(connect().await.unwrap()).await.unwrap();
        assert!(
            slow >= Duration::from_millis(250),
            "both directions: {slow:?}"
        );
        proxy.clear().await.unwrap();
        drop(stream);

        proxy.inject(Fault::Reset, 1.0).await.unwrap();
        let cut = round_trip(connect().await.unwrap()).await;
        assert!(cut.is_err(), "a reset connection answers nothing");
        proxy.clear().await.unwrap();
        let (_, again) = round_trip(connect().await.unwrap()).await.unwrap();
        assert!(again < Duration::from_millis(100), "{again:?}");
    }
}
