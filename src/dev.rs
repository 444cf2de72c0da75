//! `handler dev` and `handler emulator`: local runs without an Azure account.
//!
//! `dev` starts the emulator and then the handler itself as a child process whose environment
//! points at it, so requests take exactly the production path: `azure_identity`'s managed
//! identity credential against the emulated identity endpoint, and the TLS pipeline to the
//! emulated ACS. A child process is the honest way to do that, because the credential and the
//! TLS verifier read `IDENTITY_*` and `SSL_CERT_FILE` from the process environment.

use crate::emulator::{Emulator, EmulatorOptions, SentSms};
use std::{net::SocketAddr, process::ExitCode};
use tokio::process::Command;

/// Where `dev` serves the functions, as `func start` would.
pub const DEV_PORT: u16 = 7071;
/// Fixed emulator ports for `handler emulator`, so `local.settings.json` can name them.
pub const EMULATOR_ACS_PORT: u16 = 7443;
pub const EMULATOR_IDENTITY_PORT: u16 = 7442;
/// Requests and sent SMS a long-running emulator remembers: enough to inspect recent traffic,
/// few enough that a load test against `dev` keeps its memory flat.
const HISTORY_LIMIT: usize = 1000;
/// The sender the emulated resource owns unless `SMS_FROM` names another.
pub const DEV_SENDER: &str = "+18005550100";

/// Settings the child must not inherit: they would select another credential or resource.
const OVERRIDDEN: [&str; 3] = [
    "COMMUNICATION_SERVICES_CONNECTION_STRING",
    "AZURE_CLIENT_ID",
    "FUNCTIONS_HTTPWORKER_PORT",
];

fn sender() -> String {
    std::env::var("SMS_FROM")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .map(|raw| canonical_sender(&raw))
        .unwrap_or_else(|| DEV_SENDER.to_owned())
}

/// Every sender the handler may send from (`SMS_FROM` and `SMS_ALLOWED_SENDERS`): the emulated
/// resource owns them all, so trying `SMS_ALLOWED_SENDERS` locally works as it would in Azure
/// with numbers the resource owns.
fn owned_senders() -> Vec<String> {
    let mut senders = vec![sender()];
    let allowed = std::env::var("SMS_ALLOWED_SENDERS").unwrap_or_default();
    for item in allowed.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let item = canonical_sender(item);
        if !senders.contains(&item) {
            senders.push(item);
        }
    }
    senders
}

/// A sender as the handler sends it; a malformed one is left for the handler to refuse.
fn canonical_sender(raw: &str) -> String {
    crate::sender::Sender::parse(raw).map_or_else(|_| raw.trim().to_owned(), |s| s.to_string())
}

async fn start(acs_port: u16, identity_port: u16) -> Result<Emulator, ExitCode> {
    let options = EmulatorOptions {
        acs_addr: SocketAddr::from(([127, 0, 0, 1], acs_port)),
        identity_addr: SocketAddr::from(([127, 0, 0, 1], identity_port)),
        owned_senders: owned_senders(),
        history_limit: Some(HISTORY_LIMIT),
        ..EmulatorOptions::default()
    };
    Emulator::start(options).await.map_err(|error| {
        match (acs_port, identity_port) {
            (0, 0) => eprintln!("error: cannot start the emulator: {error}"),
            _ => eprintln!(
                "error: cannot start the emulator on 127.0.0.1:{acs_port} (ACS) and \
                 127.0.0.1:{identity_port} (identity): {error}; is another emulator running?"
            ),
        }
        ExitCode::FAILURE
    })
}

/// `handler dev [--port N]`: the emulator plus the handler on `http://localhost:<port>/api/...`.
pub async fn run_dev(port: u16) -> ExitCode {
    // The banner promises this port: find out now whether it is free, rather than print it and
    // then watch the child fail to bind.
    if let Err(error) = std::net::TcpListener::bind(("127.0.0.1", port)) {
        eprintln!("error: cannot listen on 127.0.0.1:{port}: {error}; pick another with --port");
        return ExitCode::FAILURE;
    }
    let emulator = match start(0, 0).await {
        Ok(emulator) => emulator,
        Err(code) => return code,
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => {
            eprintln!("error: cannot find the handler binary: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut command = Command::new(exe);
    for name in OVERRIDDEN {
        command.env_remove(name);
    }
    command
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("IDENTITY_ENDPOINT", emulator.identity_endpoint())
        .env("IDENTITY_HEADER", emulator.identity_header())
        .env("SSL_CERT_FILE", emulator.ca_cert_path())
        .env("COMMUNICATION_SERVICES_ENDPOINT", emulator.acs_endpoint())
        .env("SMS_FROM", sender())
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => {
            eprintln!("error: cannot start the handler: {error}");
            return ExitCode::FAILURE;
        }
    };

    print_banner(port, &emulator);
    let mut outbox = emulator.state().subscribe_outbox();
    let code = loop {
        tokio::select! {
            status = child.wait() => {
                break match status {
                    Ok(status) if status.success() => ExitCode::SUCCESS,
                    Ok(status) => {
                        eprintln!("handler exited: {status}");
                        ExitCode::FAILURE
                    }
                    Err(error) => {
                        eprintln!("error: waiting for the handler: {error}");
                        ExitCode::FAILURE
                    }
                };
            }
            sms = outbox.recv() => {
                if let Ok(sms) = sms {
                    print_sms(&sms);
                }
            }
            _ = crate::server::shutdown_signal() => {
                // A terminal's Ctrl-C reaches the child too; a SIGTERM sent to us alone does not,
                // so pass one on (through kill(1): this crate forbids unsafe code) and give the
                // child its grace period before stopping it hard.
                if let Some(pid) = child.id() {
                    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status().await;
                }
                let grace = crate::server::SHUTDOWN_GRACE + std::time::Duration::from_secs(1);
                if tokio::time::timeout(grace, child.wait()).await.is_err() {
                    let _ = child.kill().await;
                }
                break ExitCode::SUCCESS;
            }
        }
    };
    emulator.shutdown().await;
    code
}

/// `handler emulator`: the emulator alone, on fixed ports, for `func start` against it.
pub async fn run_emulator() -> ExitCode {
    let emulator = match start(EMULATOR_ACS_PORT, EMULATOR_IDENTITY_PORT).await {
        Ok(emulator) => emulator,
        Err(code) => return code,
    };
    println!(
        "ACS emulator on {} (TLS), managed-identity endpoint on {}",
        emulator.acs_endpoint(),
        emulator.identity_endpoint()
    );
    println!("Put these in local.settings.json \"Values\" (or export them) before `func start`:");
    println!(
        "  \"COMMUNICATION_SERVICES_ENDPOINT\": \"{}\",",
        emulator.acs_endpoint()
    );
    println!(
        "  \"IDENTITY_ENDPOINT\": \"{}\",",
        emulator.identity_endpoint()
    );
    println!("  \"IDENTITY_HEADER\": \"{}\",", emulator.identity_header());
    println!(
        "  \"SSL_CERT_FILE\": \"{}\",",
        emulator.ca_cert_path().display()
    );
    println!("  \"SMS_FROM\": \"{}\"", sender());
    println!("Sent SMS are printed below. Ctrl-C stops.");
    let mut outbox = emulator.state().subscribe_outbox();
    loop {
        tokio::select! {
            sms = outbox.recv() => {
                if let Ok(sms) = sms {
                    print_sms(&sms);
                }
            }
            _ = crate::server::shutdown_signal() => break,
        }
    }
    emulator.shutdown().await;
    ExitCode::SUCCESS
}

fn print_banner(port: u16, emulator: &Emulator) {
    let base = format!("http://localhost:{port}");
    println!(
        "ACS emulator: {} (TLS)  managed identity: {}",
        emulator.acs_endpoint(),
        emulator.identity_endpoint()
    );
    println!("Functions on {base}/api/ — try:");
    println!(
        "  curl -s -X POST {base}/api/token -H 'content-type: application/json' -d '{{\"scopes\":[\"voip\"]}}'"
    );
    println!(
        "  curl -s -X POST {base}/api/sms -H 'content-type: application/json' -d '{{\"to\":\"+14255550123\",\"message\":\"Hello from the emulator\"}}'"
    );
    println!("Sent SMS are printed below. Ctrl-C stops.");
}

/// The emulator's outbox is fake traffic on the developer's own machine, so the whole message
/// is shown: that is what it is for.
fn print_sms(sms: &SentSms) {
    println!(
        "[outbox] SMS {} from {} to {}: {}",
        sms.message_id, sms.from, sms.to, sms.message
    );
}
