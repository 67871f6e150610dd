//! Every lab's HTML page, opened in headless Chromium: the page loads and each of its
//! diagrams (ladders and plots, SVG) renders with a non-empty box.
//!
//! The page's own script counts the rendered diagrams into
//! `<body data-rendered-diagrams="N">` on load; the DOM that Chromium dumps must show the
//! count of diagrams the report has. Without Chromium the test fails under CI=true
//! (`.ci/run` installs it) and says so otherwise.

use std::path::PathBuf;
use std::process::Command;

use synack_lab::{Options, LABS};

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            let out = Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {name}"))
                .output()
                .ok()?;
            let path = String::from_utf8(out.stdout).ok()?;
            let path = path.trim();
            (!path.is_empty()).then(|| PathBuf::from(path))
        })
}

#[test]
fn every_lab_page_renders_its_diagrams_in_chromium() {
    let Some(browser) = chromium() else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "chromium is not installed: .ci/run must install it (apt-get install -y chromium)"
            );
        }
        eprintln!(
            "SKIPPED: chromium is not installed (apt-get install -y chromium); CI fails here"
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("synack-lab-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for lab in LABS {
        let opts = Options::new(1).sysctl("net.ipv4.ip_local_port_range", "40000 40499");
        let report = (lab.run)(&opts).unwrap();
        let expected = report.diagram_count();
        assert!(!report.ladders.is_empty(), "lab {} has no ladder", lab.name);
        let path = dir.join(format!("{}.html", lab.name));
        std::fs::write(&path, report.to_html()).unwrap();
        let out = Command::new(&browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--virtual-time-budget=5000",
                "--dump-dom",
            ])
            .arg(format!("file://{}", path.display()))
            .output()
            .expect("running chromium");
        let dom = String::from_utf8_lossy(&out.stdout);
        assert!(
            dom.contains(&format!("data-rendered-diagrams=\"{expected}\"")),
            "lab {}: expected {expected} rendered diagrams; body: {:?}; stderr: {}",
            lab.name,
            dom.lines().find(|l| l.contains("<body")),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
        assert_eq!(
            dom.matches("class=\"diagram ladder\"").count(),
            report.ladders.len(),
            "lab {}",
            lab.name
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
