//! The deployment zip of `scripts/package`: exactly the app's files, an executable `handler`
//! that loads on the glibc of the Functions Linux images, and an app that answers when unpacked
//! and started by the host double.
//!
//! CI packages once and names the zip in `PACKAGE_ZIP`; without it these tests run the script
//! themselves (a release build: minutes), so the checks never pass for want of a zip.

use crate::{
    host::{FUNCTION_KEY, Host, Mode},
    support::{SENDER, handler_env, repo_root, start_emulator},
};
use serde_json::{Value, json};
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

/// The highest glibc the Functions Linux images have (Debian 11).
const GLIBC_CEILING: (u32, u32) = (2, 31);

/// The zip under test, built at most once per test run.
fn package_zip() -> &'static Path {
    static ZIP: OnceLock<PathBuf> = OnceLock::new();
    ZIP.get_or_init(|| {
        if let Some(given) = std::env::var_os("PACKAGE_ZIP") {
            let path = repo_root().join(given);
            assert!(path.is_file(), "PACKAGE_ZIP names no file: {path:?}");
            return path;
        }
        let out = repo_root().join("target").join("package-test");
        let status = Command::new(repo_root().join("scripts/package"))
            .arg("--out")
            .arg(&out)
            .status()
            .expect("scripts/package runs");
        assert!(status.success(), "scripts/package failed: {status}");
        out.join("acs-functions-handler.zip")
    })
}

/// One zip entry as python3's zipfile reads it.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    /// Unix file type and permission bits (`0o100755`).
    mode: u32,
    /// 3 means the entry was made on Unix, which is what makes extractors honour `mode`.
    create_system: u32,
}

/// Lists the zip's entries and extracts them into `dir` with their recorded modes (as `unzip`
/// and zip deploy do; python's own `extractall` would drop them).
fn unpack(zip: &Path, dir: &Path) -> BTreeMap<String, Entry> {
    const SCRIPT: &str = r#"
import json, os, sys, zipfile
zip_path, dest = sys.argv[1], sys.argv[2]
listing = {}
with zipfile.ZipFile(zip_path) as archive:
    for info in archive.infolist():
        mode = info.external_attr >> 16
        listing[info.filename] = {"mode": mode, "create_system": info.create_system}
        if info.is_dir():
            continue
        target = os.path.join(dest, info.filename)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(archive.read(info))
        os.chmod(target, mode & 0o7777)
print(json.dumps(listing))
"#;
    let output = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(zip)
        .arg(dir)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "unpacking failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listing: BTreeMap<String, Value> = serde_json::from_slice(&output.stdout).unwrap();
    listing
        .into_iter()
        .map(|(name, e)| {
            let number = |key: &str| e[key].as_u64().unwrap() as u32;
            let entry = Entry {
                mode: number("mode"),
                create_system: number("create_system"),
            };
            (name, entry)
        })
        .collect()
}

/// A fresh folder for one unpacked copy.
fn unpacked() -> (PathBuf, BTreeMap<String, Entry>) {
    let dir = std::env::temp_dir().join(format!("acs-package-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let entries = unpack(package_zip(), &dir);
    (dir, entries)
}

/// The app's own files in the repository: `host.json` and `function-*/function.json`.
fn app_files() -> Vec<String> {
    let mut files = vec!["host.json".to_owned()];
    for entry in std::fs::read_dir(repo_root()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.starts_with("function-") && repo_root().join(&name).join("function.json").is_file()
        {
            files.push(format!("{name}/function.json"));
        }
    }
    files
}

/// Highest `GLIBC_x.y` symbol version among the binary's dynamic symbols, from `objdump -T`.
fn highest_glibc(binary: &Path) -> Option<(u32, u32)> {
    let output = Command::new("objdump")
        .arg("-T")
        .arg(binary)
        .output()
        .expect("objdump (binutils) runs");
    assert!(output.status.success(), "objdump failed on {binary:?}");
    parse_highest_glibc(&String::from_utf8_lossy(&output.stdout))
}

fn parse_highest_glibc(listing: &str) -> Option<(u32, u32)> {
    listing
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(|word| word.strip_prefix("GLIBC_"))
        .filter_map(|version| {
            let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
            Some((parts.next()??, parts.next().flatten().unwrap_or(0)))
        })
        .max()
}

#[test]
fn glibc_versions_are_compared_as_numbers() {
    let listing = "0000 DF *UND* 0000 GLIBC_2.2.5 memcpy\n\
                   0000 DF *UND* 0000 (GLIBC_2.9) pipe2\n\
                   0000 DF *UND* 0000 GLIBC_2.17 clock_gettime\n\
                   0000 DF *UND* 0000 GLIBC_PRIVATE _dl_x\n";
    assert_eq!(parse_highest_glibc(listing), Some((2, 17)));
    assert_eq!(
        parse_highest_glibc("GLIBC_2.34 x GLIBC_2.4 y"),
        Some((2, 34))
    );
    assert_eq!(parse_highest_glibc("no versions"), None);
}

#[test]
fn the_zip_holds_the_app_and_an_executable_handler_only() {
    let (dir, entries) = unpacked();

    let mut expected = app_files();
    expected.push("handler".to_owned());
    expected.sort();
    let names: Vec<&String> = entries.keys().collect();
    assert_eq!(names, expected.iter().collect::<Vec<_>>());

    for (name, entry) in &entries {
        let mode = if name == "handler" {
            0o100755
        } else {
            0o100644
        };
        assert_eq!(
            (entry.mode, entry.create_system),
            (mode, 3),
            "{name}: mode {:o}",
            entry.mode
        );
    }
    for file in app_files() {
        assert_eq!(
            std::fs::read(dir.join(&file)).unwrap(),
            std::fs::read(repo_root().join(&file)).unwrap(),
            "{file} is packaged as it is in the repository"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_handler_loads_on_the_glibc_of_the_functions_images() {
    let (dir, _) = unpacked();

    let needed = highest_glibc(&dir.join("handler"));

    let needed = needed.expect("a glibc-linked binary lists GLIBC_ symbol versions");
    assert!(
        needed <= GLIBC_CEILING,
        "handler needs GLIBC_{}.{}, above {GLIBC_CEILING:?}",
        needed.0,
        needed.1
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_unpacked_app_answers_under_the_host() {
    let (dir, _) = tokio::task::block_in_place(unpacked);
    let emulator = start_emulator().await;
    // No binary given: the host starts the app's own `handler`, as host.json names it.
    let host = Host::start(&dir, None, &handler_env(&emulator), Mode::Forwarding).await;
    let http = reqwest::Client::new();
    let post = |route: &str, body: Value| {
        http.post(format!("{}/api/{route}", host.base))
            .header("x-functions-key", FUNCTION_KEY)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };

    let token = post("token", json!({"scopes": ["voip"]})).await.unwrap();
    let sms = post(
        "sms",
        json!({"to": "+14255550123", "message": "from the package"}),
    )
    .await
    .unwrap();

    assert_eq!(token.status(), 200);
    let body: Value = token.json().await.unwrap();
    assert!(
        body["user"]["communicationUserId"].as_str().is_some(),
        "{body}"
    );
    assert_eq!(sms.status(), 202);
    let outbox = emulator.state().outbox();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].from, SENDER);
    assert_eq!(host.reached_handler(), 2);
    drop(host);
    let _ = std::fs::remove_dir_all(dir);
}

/// `func azure functionapp publish` uploads what `.funcignore` does not name: every tracked
/// top-level entry other than the app's own files must be named there.
#[test]
fn funcignore_leaves_out_everything_but_the_app() {
    let ignore = std::fs::read_to_string(repo_root().join(".funcignore")).unwrap();
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let ignored = |name: &str| {
        patterns.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == p.trim_end_matches('/'),
        })
    };
    let listing = Command::new("git")
        .args(["ls-files"])
        .current_dir(repo_root())
        .output()
        .expect("git lists the tracked files");
    let tracked = String::from_utf8(listing.stdout).unwrap();
    let top: std::collections::BTreeSet<&str> = tracked
        .lines()
        .map(|path| path.split('/').next().unwrap())
        .collect();

    let app = |name: &str| name == "host.json" || name.starts_with("function-");
    for name in top {
        assert!(
            app(name) != ignored(name),
            "{name}: {}",
            if app(name) {
                "an app file .funcignore leaves out"
            } else {
                "uploaded by func publish; add it to .funcignore"
            }
        );
    }
    for local in ["target", "dist", "local.settings.json"] {
        assert!(ignored(local), "{local}");
    }
}
