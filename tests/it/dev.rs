//! `handler dev`, the README's run command: the emulator plus the handler, as a new user runs it.

use crate::support::free_port;
use serde_json::{Value, json};
use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

#[tokio::test(flavor = "multi_thread")]
async fn dev_serves_both_functions_against_the_emulator() {
    let port = free_port();
    let mut dev = Command::new(env!("CARGO_BIN_EXE_handler"))
        .args(["dev", "--port", &port.to_string()])
        .env_remove("SMS_FROM")
        // A second sender, written another way: the emulated resource owns it too.
        .env("SMS_ALLOWED_SENDERS", "+18005550100, +1 800 555 0101")
        .env_remove("IDENTITY_ENDPOINT")
        .env_remove("COMMUNICATION_SERVICES_ENDPOINT")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let stdout = dev.stdout.take().unwrap();
    std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .for_each(|l| sink.lock().unwrap().push(l))
    });

    let base = format!("http://localhost:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{base}/")).send().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "dev never became ready: {:?}",
            lines.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let token = client
        .post(format!("{base}/api/token"))
        .json(&json!({"scopes": ["voip"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    let token: Value = token.json().await.unwrap();
    assert!(
        token["user"]["communicationUserId"]
            .as_str()
            .unwrap()
            .starts_with("8:acs:")
    );
    let sms = client
        .post(format!("{base}/api/sms"))
        .json(&json!({"to": "+14255550123", "message": "Hello from the emulator"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sms.status(), 202);
    let other = client
        .post(format!("{base}/api/sms"))
        .json(&json!({"to": "+14255550124", "message": "hi", "from": "+18005550101"}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 202, "{:?}", other.text().await);

    let deadline = Instant::now() + Duration::from_secs(5);
    while !lines
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("[outbox]") && l.contains("Hello from the emulator"))
    {
        assert!(
            Instant::now() < deadline,
            "the SMS was not printed: {:?}",
            lines.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let printed = lines.lock().unwrap().join("\n");
    assert!(
        printed.contains(&format!("curl -s -X POST {base}/api/token")),
        "{printed}"
    );

    Command::new("kill")
        .args(["-TERM", &dev.id().to_string()])
        .status()
        .unwrap();
    let status = tokio::task::block_in_place(|| dev.wait()).unwrap();
    assert!(status.success(), "{status}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the handler child stopped too"
    );
}

#[test]
fn help_is_printed_wherever_it_is_asked_for_and_stray_arguments_are_refused() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_handler"))
            .args(args)
            .env_clear()
            .output()
            .unwrap()
    };
    for args in [
        &["--help"][..],
        &["-h"],
        &["dev", "--help"],
        &["emulator", "--help"],
    ] {
        let output = run(args);
        assert!(output.status.success(), "{args:?}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.starts_with("usage: handler"), "{args:?}: {stdout}");
    }
    for args in [
        &["emulator", "extra"][..],
        &["dev", "--port"],
        &["dev", "--port", "0"],
        &["serve"],
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&output.stderr).starts_with("error: "));
    }
}

#[test]
fn dev_on_a_busy_port_says_so_before_printing_anything() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();

    let output = Command::new(env!("CARGO_BIN_EXE_handler"))
        .args(["dev", "--port", &port.to_string()])
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(1));
    assert!(
        output.stdout.is_empty(),
        "no banner for a port we do not have"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(stderr.contains("--port"), "{stderr}");
}
