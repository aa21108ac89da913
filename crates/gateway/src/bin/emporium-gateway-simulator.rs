//! Serves the payment gateway simulator (see `emporium_gateway::simulator`), on 127.0.0.1
//! unless `--host` says otherwise (a container: `--host 0.0.0.0`).
//!
//! Prints exactly one line to stdout once the port is bound, `listening on <host>:<port>`,
//! so a test that starts it with `--port 0` learns which port it got.

use clap::Parser;
use emporium_gateway::simulator::{Simulator, SimulatorConfig, DEFAULT_API_KEY};
use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "A Stripe-style payment gateway simulator for Emporium's tests")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The API key clients must send as `Authorization: Bearer <key>`.
    #[arg(long, default_value = DEFAULT_API_KEY)]
    api_key: String,
    /// How long `tok_timeout` authorizations wait before answering, in milliseconds.
    #[arg(long, default_value_t = 3000)]
    slow_ms: u64,
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let listener = TcpListener::bind((args.host, args.port))?;
    let port = listener.local_addr()?.port();
    let server = Simulator::new(SimulatorConfig {
        api_key: args.api_key,
        slow: Duration::from_millis(args.slow_ms),
    })
    .serve(listener)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}:{port}", args.host)?;
    stdout.flush()?;
    drop(stdout);
    server.await
}
