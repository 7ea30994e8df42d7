//! `rnngym visualize` opened in a real headless Chromium: the page renders coloured characters
//! and the hover panel with predictions. Needs Chromium: CI (CI=true) installs it and fails
//! without it; elsewhere the test skips with a printed reason.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{corpus, Fixture, TINY};

/// The Chromium binary: `$RNNGYM_CHROMIUM`, else the first of the usual names on PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("RNNGYM_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
    .find(|p| p.is_file())
}

/// Runs headless Chromium on `page` with `extra` flags, killed after two minutes.
fn run_chromium(bin: &Path, profile: &Path, page: &Path, extra: &[&str]) -> String {
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).ok();
        s
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            child.wait().ok();
            panic!("chromium did not finish within two minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().unwrap()
}

#[test]
fn visualization_page_renders_in_headless_chromium() {
    let Some(bin) = chromium() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("chromium not found but CI=true: .ci/run installs Debian's chromium");
        }
        eprintln!(
            "skipping: chromium not found (install Debian's chromium or set RNNGYM_CHROMIUM)"
        );
        return;
    };
    let f = Fixture::new(&corpus(), TINY);
    f.train();
    let text: String = corpus().chars().take(300).collect();
    std::fs::write(f.file("text.txt"), &text).unwrap();
    let out = f.ok(&[
        "visualize",
        "--checkpoint",
        "run",
        "--text",
        "text.txt",
        "--out",
        "viz.html",
    ]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("viz.html"));
    let page = f.file("viz.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "self-contained"
    );

    let profile = tempfile::tempdir().unwrap();
    let dom = run_chromium(&bin, profile.path(), &page, &["--dump-dom"]);
    let spans = dom.matches("class=\"ch").count();
    assert_eq!(
        spans,
        300,
        "one span per character; DOM:\n{}",
        &dom[..dom.len().min(2000)]
    );
    let coloured = dom
        .split("background-color: rgb(")
        .skip(1)
        .filter(|rest| !rest.starts_with("255, 255, 255)"))
        .count();
    assert!(
        coloured > 100,
        "characters are coloured by activation ({coloured})"
    );
    let panel = dom
        .split("id=\"hover-panel\"")
        .nth(1)
        .expect("hover panel present");
    let panel = &panel[..panel.find("</aside>").unwrap_or(panel.len())];
    assert!(
        panel.matches("class=\"pred\"").count() == 5 && panel.contains('%'),
        "the hover panel shows the top-5 predictions: {panel}"
    );
    assert!(dom.contains("layer 0, neuron"), "correlated-neuron list");

    let shot = f.file("shot.png");
    let arg = format!("--screenshot={}", shot.display());
    run_chromium(
        &bin,
        profile.path(),
        &page,
        &[&arg, "--window-size=1200,800"],
    );
    let decoder = png::Decoder::new(std::fs::File::open(&shot).expect("screenshot written"));
    let reader = decoder.read_info().unwrap();
    assert_eq!((reader.info().width, reader.info().height), (1200, 800));
}
