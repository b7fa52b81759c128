//! Config TOML load + validate: `Config::parse(text, label, base_dir, env)`
//! (serde spans, every table's checks, `GATEHOUSE_*` overrides).
//!
//! Input: the TOML text, optionally followed by a 0 byte and environment
//! lines `NAME=value`. Inputs that could name a device or a virtual file
//! (`/dev`, `/proc`, `/sys`, or TOML escapes and line continuations that
//! could spell one) are skipped: the loader reads key and certificate files
//! that the config names, and reading `/dev/zero` is an operator's choice,
//! not a parser bug. Relative paths resolve under a directory that does not
//! exist.
#![no_main]

use gatehouse::config::Config;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

const SKIP: [&str; 8] = ["/dev", "/proc", "/sys", "\\u", "\\U", "\\\n", "\\\r", "\\ "];

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else { return };
    if SKIP.iter().any(|s| input.contains(s)) || input.contains("\\\t") {
        return;
    }
    let (text, env) = input.split_once('\0').unwrap_or((input, ""));
    let env: Vec<(String, String)> = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let base = Path::new("/nonexistent-gatehouse-fuzz");
    let first = Config::parse(text, "fuzz.toml", base, &env);
    // Deterministic: the same text gives the same verdict.
    let second = Config::parse(text, "fuzz.toml", base, &env);
    match (&first, &second) {
        (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("Config::parse changed its mind"),
    }
    if let Err(e) = &first {
        // Errors point into the file: a line and column within the text.
        let lines = text.split('\n').count();
        assert!(e.line <= lines + 1, "line {} of {lines}: {e}", e.line);
    }
});
