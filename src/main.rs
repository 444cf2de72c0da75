//! `handler`: the custom handler the Functions host starts.
//!
//! `handler` serves the functions; `handler dev` runs them against the local emulator;
//! `handler emulator` runs the emulator alone.

use acs_functions_handler::{config::Settings, server, telemetry};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let help = args.iter().any(|a| a == "-h" || a == "--help");
    match args.first().map(String::as_str) {
        None => serve(),
        _ if help => {
            println!("{}", usage());
            ExitCode::SUCCESS
        }
        #[cfg(feature = "emulator")]
        Some("dev") => match dev_port(&args[1..]) {
            Ok(port) => local(acs_functions_handler::dev::run_dev(port)),
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::from(2)
            }
        },
        #[cfg(feature = "emulator")]
        Some("emulator") if args.len() == 1 => local(acs_functions_handler::dev::run_emulator()),
        Some("-V" | "--version") => {
            println!("handler {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        #[cfg(feature = "emulator")]
        Some("emulator") => {
            eprintln!("error: emulator takes no arguments\n{}", usage());
            ExitCode::from(2)
        }
        Some(other) => {
            eprintln!("error: unknown command '{other}'\n{}", usage());
            ExitCode::from(2)
        }
    }
}

fn usage() -> &'static str {
    if cfg!(feature = "emulator") {
        "usage: handler [dev [--port N] | emulator | --help | --version]\n\
         \n  (no command)     serve the functions on 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT (default 3000)\
         \n  dev [--port N]   run the functions on http://localhost:N/api/ (default 7071) against the local emulator\
         \n  emulator         run only the local ACS and managed-identity emulator (for `func start`)"
    } else {
        "usage: handler [--help | --version]\n\
         \n  (no command)     serve the functions on 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT (default 3000)"
    }
}

#[cfg(feature = "emulator")]
fn dev_port(args: &[String]) -> Result<u16, String> {
    match args {
        [] => Ok(acs_functions_handler::dev::DEV_PORT),
        [flag, value] if flag == "--port" => match value.parse() {
            Ok(0) | Err(_) => Err(format!(
                "--port takes a port number from 1 to 65535, not '{value}'"
            )),
            Ok(port) => Ok(port),
        },
        _ => Err(format!("unexpected arguments {args:?}\n{}", usage())),
    }
}

/// Runs a local-development command on its own runtime.
#[cfg(feature = "emulator")]
fn local(command: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    telemetry::init();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(command),
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

fn serve() -> ExitCode {
    telemetry::init();
    // Bad settings stop start-up with one line on stderr, which the host records as an error.
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let mut builder = match settings.worker_threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        threads => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(threads);
            builder
        }
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let port = settings.port;
        let listener = match server::bind(port).await {
            Ok(listener) => listener,
            Err(error) => {
                eprintln!("error: cannot listen on 127.0.0.1:{port}: {error}");
                return ExitCode::FAILURE;
            }
        };
        let auth = settings.auth.describe();
        let endpoint = settings.endpoint.to_string();
        for warning in &settings.warnings {
            tracing::warn!("{warning}");
        }
        let state = match server::build_state(settings) {
            Ok(state) => state,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(port, credential = auth, acs.endpoint = %endpoint, "handler listening");
        match server::run(listener, state, server::shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: server failed: {error}");
                ExitCode::FAILURE
            }
        }
    })
}
