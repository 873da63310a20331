//! Builds the web console (`console/`, TypeScript) when the `console` feature is on, so a
//! fresh clone's `cargo run` serves it with no other step. The bundle goes to
//! `$OUT_DIR/console` and is compiled into the binary (src/console.rs); nothing is written
//! into the source tree except `console/node_modules`.
//!
//! Needs Node.js 18+ and npm. Where they are missing (the container's Rust stage), set
//! `AGORA_CONSOLE_DIST` to a console already built with `npm run build` and it is used as is.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=AGORA_CONSOLE_DIST");
    if std::env::var_os("CARGO_FEATURE_CONSOLE").is_none() {
        return;
    }
    let dist = match std::env::var_os("AGORA_CONSOLE_DIST") {
        Some(prebuilt) => prebuilt_console(PathBuf::from(prebuilt)),
        None => build_console(),
    };
    println!("cargo:rustc-env=AGORA_CONSOLE_DIR={}", dist.display());
}

fn prebuilt_console(dist: PathBuf) -> PathBuf {
    if !dist.join("index.html").is_file() {
        panic!(
            "AGORA_CONSOLE_DIST={} holds no index.html: build it with `npm ci && npm run build` in console/",
            dist.display()
        );
    }
    println!("cargo:rerun-if-changed={}", dist.display());
    dist
}

fn build_console() -> PathBuf {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let console = manifest.join("console");
    for input in [
        "src",
        "index.html",
        "build.mjs",
        "package.json",
        "package-lock.json",
        "tsconfig.json",
    ] {
        println!("cargo:rerun-if-changed={}", console.join(input).display());
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap()).join("console");

    // `npm ci` when node_modules is missing or older than the lockfile.
    let installed = console.join("node_modules/.package-lock.json");
    if modified(&installed) < modified(&console.join("package-lock.json")) {
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&console));
    }
    run(Command::new("node")
        .arg("build.mjs")
        .arg(&out)
        .current_dir(&console));
    out
}

fn modified(path: &Path) -> std::time::SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(std::time::UNIX_EPOCH)
}

fn run(command: &mut Command) {
    let status = command.status().unwrap_or_else(|e| {
        panic!(
            "running {command:?}: {e}. The console (the `console` feature) needs Node.js 18+ and npm; \
             install them, build without the feature, or set AGORA_CONSOLE_DIST to a built console"
        )
    });
    if !status.success() {
        panic!("{command:?} failed ({status})");
    }
}
