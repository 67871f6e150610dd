//! No script input makes the interpreter panic: every prefix and every one-line deletion
//! of the crate's scripts (and, when present, of the external corpus) runs to an outcome.

use std::path::{Path, PathBuf};

use synack_pktdrill::{collect_scripts, run_str, Options};

fn sources() -> Vec<(PathBuf, String)> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![here.join("scripts"), here.join("tests/data")];
    let corpus = here.join("../../../shared/conformance/gvisor");
    if corpus.is_dir() {
        dirs.push(corpus);
    }
    collect_scripts(&dirs)
        .unwrap()
        .into_iter()
        .map(|p| {
            let s = std::fs::read_to_string(&p).unwrap();
            (p, s)
        })
        .collect()
}

#[test]
fn prefixes_and_deletions_never_panic() {
    let opts = Options::default();
    for (path, src) in sources() {
        let name = path.display().to_string();
        let mut cut = 0;
        while cut < src.len() {
            if src.is_char_boundary(cut) {
                let _ = run_str(&name, &src[..cut], &opts);
            }
            cut += 13;
        }
        let lines: Vec<&str> = src.lines().collect();
        for skip in 0..lines.len() {
            let mutated: Vec<&str> = lines
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, l)| *l)
                .collect();
            let _ = run_str(&name, &mutated.join("\n"), &opts);
        }
    }
}
