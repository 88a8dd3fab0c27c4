//! Builds the web app (`web/`, React + Vite) and stages its files in `$OUT_DIR/webapp`, which
//! `src/routes/webapp.rs` embeds in the binary. Nothing is downloaded at run time: the
//! server needs no Node.js and no internet access.
//!
//! * `npm ci` runs only when `web/node_modules` is missing or older than
//!   `web/package-lock.json` (npm's own record of the installed tree,
//!   `node_modules/.package-lock.json`, is compared with the lockfile).
//! * `npm run build` (Vite, output in `web/dist`) runs only when a source of the app changed:
//!   Cargo reruns this script only for the paths printed below (never `node_modules` or
//!   `dist`, which this script itself writes, so a build would otherwise trigger the next).
//! * `FLOWTRACK_SKIP_WEB_BUILD=1` skips npm and embeds a small placeholder page instead, for
//!   quick server-only builds on machines without Node.js. The same placeholder is used while
//!   `web/` has no `package.json` and `index.html` (an app not written yet).
//! * Compressible files also get a gzip copy (`name.gz`), served when the client accepts it.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

const SKIP_VAR: &str = "FLOWTRACK_SKIP_WEB_BUILD";
const NODE_NEEDED: &str = "flowtrack build: Node.js 20+ and npm are needed to build the web app \
     (web/); install them or set FLOWTRACK_SKIP_WEB_BUILD=1";
/// The oldest Node.js that Vite and the app's tooling support.
const NODE_MIN_MAJOR: u32 = 20;
/// Files of the app that are sources of the build (relative to `web/`); `tsconfig*.json` is
/// matched separately.
const SOURCES: &[&str] = &[
    "src",
    "public",
    "index.html",
    "package.json",
    "package-lock.json",
    "vite.config.ts",
];
/// How much of a failed npm run's output is repeated in the build error.
const NPM_TAIL_LINES: usize = 12;
/// Extensions worth a gzip copy (text formats; images and fonts are compressed already).
const COMPRESSIBLE: &[&str] = &[
    "html",
    "js",
    "mjs",
    "css",
    "svg",
    "json",
    "webmanifest",
    "txt",
    "map",
];

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            // `cargo::error` fails the build with this one line; a failing exit status
            // would add Cargo's "failed to run custom build command" block around it.
            // (npm's own output, written to stderr, is shown with `cargo build -vv`.)
            println!("cargo::error={message}");
            ExitCode::SUCCESS
        }
    }
}

fn run() -> Result<(), String> {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed={SKIP_VAR}");
    let manifest_dir = PathBuf::from(var("CARGO_MANIFEST_DIR")?);
    let web = manifest_dir.join("web");
    let out = PathBuf::from(var("OUT_DIR")?).join("webapp");
    reset_dir(&out)?;

    if skip_requested() {
        return write_placeholder(&out, "it was built with FLOWTRACK_SKIP_WEB_BUILD set");
    }
    if !web.join("package.json").is_file() || !web.join("index.html").is_file() {
        // A path that does not exist makes Cargo rerun the script (and so recompile the
        // crate) on every build, so only an existing web/ is watched; without one, the
        // script reruns when build.rs changes.
        if web.is_dir() {
            println!("cargo::rerun-if-changed=web");
        }
        return write_placeholder(&out, "web/ holds no app (package.json and index.html)");
    }
    track_sources(&web)?;

    // One build of web/ at a time: `cargo build` and `cargo build --release` (or two
    // checkouts' tools) running together would otherwise write web/dist at once.
    let _lock = lock_web_dir(&web)?;
    check_node()?;
    if needs_install(&web) {
        let started = Instant::now();
        npm(&web, &["ci", "--no-audit", "--no-fund"])?;
        log(&format!("npm ci: {:.1} s", started.elapsed().as_secs_f64()));
    }
    let started = Instant::now();
    npm(&web, &["run", "build"])?;
    log(&format!(
        "npm run build: {:.1} s",
        started.elapsed().as_secs_f64()
    ));

    let dist = web.join("dist");
    if !dist.join("index.html").is_file() {
        return Err(format!(
            "flowtrack build: `npm run build` left no {}",
            dist.join("index.html").display()
        ));
    }
    copy_tree(&dist, &out)?;
    precompress(&out)?;
    Ok(())
}

fn var(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("flowtrack build: {name} is not set (run by cargo?)"))
}

fn skip_requested() -> bool {
    std::env::var(SKIP_VAR).is_ok_and(|v| {
        let v = v.trim();
        !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false"))
    })
}

/// Build notes go to stderr: Cargo shows them with `-vv` or when the build fails.
fn log(message: &str) {
    eprintln!("flowtrack build: {message}");
}

/// Prints `rerun-if-changed` for each source that exists (see the note in `run` on paths
/// that do not).
fn track_sources(web: &Path) -> Result<(), String> {
    for name in SOURCES {
        let path = web.join(name);
        if path.exists() {
            println!("cargo::rerun-if-changed={}", path.display());
        }
    }
    let entries = std::fs::read_dir(web).map_err(|e| io_error("read", web, &e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("tsconfig") && name.ends_with(".json") {
            println!("cargo::rerun-if-changed={}", entry.path().display());
        }
    }
    Ok(())
}

fn lock_web_dir(web: &Path) -> Result<std::fs::File, String> {
    // In the temporary directory rather than web/ (which `git status` would show) or the
    // target directory (which build scripts are not told about); named after the checkout.
    let key = fnv1a(web.to_string_lossy().as_bytes());
    let path = std::env::temp_dir().join(format!("flowtrack-web-build-{key:016x}.lock"));
    let file = std::fs::File::create(&path).map_err(|e| io_error("create", &path, &e))?;
    file.lock().map_err(|e| io_error("lock", &path, &e))?;
    Ok(file)
}

fn check_node() -> Result<(), String> {
    let version = Command::new("node")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .ok_or(NODE_NEEDED)?;
    let version = String::from_utf8_lossy(&version.stdout);
    let major = version
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    if major.is_none_or(|m| m < NODE_MIN_MAJOR) {
        return Err(format!("{NODE_NEEDED} (found Node.js {})", version.trim()));
    }
    let npm_ok = Command::new("npm")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !npm_ok {
        return Err(NODE_NEEDED.to_string());
    }
    Ok(())
}

/// True when `node_modules` is missing or was installed from an older lockfile.
fn needs_install(web: &Path) -> bool {
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let installed = mtime(&web.join("node_modules").join(".package-lock.json"));
    let wanted = mtime(&web.join("package-lock.json"));
    match (installed, wanted) {
        (Some(installed), Some(wanted)) => installed < wanted,
        _ => true,
    }
}

/// Runs npm in web/, its output going to this script's stderr (shown when the build fails).
fn npm(web: &Path, args: &[&str]) -> Result<(), String> {
    let output = Command::new("npm")
        .args(args)
        .current_dir(web)
        // Browsers for the e2e tests are Debian's Chromium; an install step must never
        // download one.
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .env("NO_UPDATE_NOTIFIER", "1")
        .stdin(Stdio::null())
        .output()
        .map_err(|_| NODE_NEEDED.to_string())?;
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(&output.stdout);
    let _ = stderr.write_all(&output.stderr);
    if output.status.success() {
        return Ok(());
    }
    // The end of npm's output says what went wrong; Cargo shows `cargo::error` lines even
    // where it hides the script's stderr.
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // Stack frames of the JavaScript tools say nothing about the app's code.
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with("at "))
        .collect();
    for line in &lines[lines.len().saturating_sub(NPM_TAIL_LINES)..] {
        println!("cargo::error=  | {line}");
    }
    Err(format!(
        "flowtrack build: `npm {}` in web/ failed ({}); the end of its output is above, or \
         set FLOWTRACK_SKIP_WEB_BUILD=1 for a server-only build",
        args.join(" "),
        output.status
    ))
}

fn reset_dir(dir: &Path) -> Result<(), String> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| io_error("remove", dir, &e))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| io_error("create", dir, &e))
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| io_error("create", to, &e))?;
    let entries = std::fs::read_dir(from).map_err(|e| io_error("read", from, &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_error("read", from, &e))?;
        let path = entry.path();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().map_err(|e| io_error("read", &path, &e))?;
        if kind.is_dir() {
            copy_tree(&path, &target)?;
        } else {
            std::fs::copy(&path, &target).map_err(|e| io_error("copy", &path, &e))?;
        }
    }
    Ok(())
}

/// Writes `name.gz` beside each compressible file of 1 KiB or more when it saves at least a
/// tenth; the server picks it for clients that send `Accept-Encoding: gzip`.
fn precompress(dir: &Path) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| io_error("read", dir, &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_error("read", dir, &e))?;
        let path = entry.path();
        if path.is_dir() {
            precompress(&path)?;
            continue;
        }
        let compressible = path
            .extension()
            .and_then(OsStr::to_str)
            .is_some_and(|ext| COMPRESSIBLE.contains(&ext));
        if !compressible {
            continue;
        }
        let data = std::fs::read(&path).map_err(|e| io_error("read", &path, &e))?;
        if data.len() < 1024 {
            continue;
        }
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder
            .write_all(&data)
            .and_then(|()| encoder.finish())
            .map_err(|e| io_error("compress", &path, &e))
            .and_then(|gz| {
                if gz.len() * 10 > data.len() * 9 {
                    return Ok(());
                }
                let mut target = path.clone().into_os_string();
                target.push(".gz");
                let target = PathBuf::from(target);
                std::fs::write(&target, gz).map_err(|e| io_error("write", &target, &e))
            })?;
    }
    Ok(())
}

/// The page embedded when the app is not built: an `index.html` shaped like Vite's (a
/// stylesheet and a module script under `/app/assets/`, content-hashed names), so that the
/// server's caching rules and tests hold either way.
fn write_placeholder(out: &Path, reason: &str) -> Result<(), String> {
    let css = "body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;\
               padding:0 1rem;color:#1f2328}code{background:#f0f1f3;padding:0 .25rem}\n";
    let js = "document.documentElement.dataset.placeholder = \"true\";\n";
    let css_name = format!("placeholder-{:08x}.css", fnv1a(css.as_bytes()) as u32);
    let js_name = format!("placeholder-{:08x}.js", fnv1a(js.as_bytes()) as u32);
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>FlowTrack</title>\n\
         <link rel=\"stylesheet\" href=\"/app/assets/{css_name}\">\n\
         <script type=\"module\" src=\"/app/assets/{js_name}\"></script>\n\
         </head>\n<body>\n<main>\n<h1>FlowTrack</h1>\n\
         <p>The web app was not built into this server: {reason}.</p>\n\
         <p>Rebuild with Node.js {NODE_MIN_MAJOR}+ and npm installed and \
         <code>FLOWTRACK_SKIP_WEB_BUILD</code> unset. The API works as usual; its \
         documentation is at <a href=\"/docs\">/docs</a>.</p>\n\
         </main>\n</body>\n</html>\n",
    );
    let assets = out.join("assets");
    std::fs::create_dir_all(&assets).map_err(|e| io_error("create", &assets, &e))?;
    for (path, contents) in [
        (out.join("index.html"), html.as_str()),
        (assets.join(css_name), css),
        (assets.join(js_name), js),
    ] {
        std::fs::write(&path, contents).map_err(|e| io_error("write", &path, &e))?;
    }
    Ok(())
}

/// FNV-1a, 64 bits: a stable name from bytes, with no dependency.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn io_error(action: &str, path: &Path, error: &std::io::Error) -> String {
    format!(
        "flowtrack build: cannot {action} {}: {error}",
        path.display()
    )
}
