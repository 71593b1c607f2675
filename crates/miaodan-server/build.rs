//! The shape of the members' wire (`src/http/cluster/members.rs`): a digest of the sources that
//! define what members send each other, the domain's commands, outcomes and questions (their
//! serde shapes are derived) and the wire's own envelopes. Two builds whose digests differ may
//! spell a value differently, so a member refuses a request of another shape instead of reading
//! it wrongly; a rolling restart meets two builds side by side.
//!
//! A digest of the sources, not the version number: a change to a command between two releases
//! of one version changes the shape too. It is over-cautious (a comment changes it), which only
//! makes two builds refuse each other's parts while both run; the parts are retried.

use std::path::{Path, PathBuf};

const SOURCES: [&str; 3] = [
    "../miaodan-domain/src",
    "src/http/cluster/members.rs",
    "src/sequencer.rs",
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    // Paths are digested below the workspace's root, so two checkouts in two places agree.
    let root = canonical(&manifest.join("../.."));
    let mut files = Vec::new();
    for source in SOURCES {
        println!("cargo:rerun-if-changed={source}");
        collect(&canonical(&manifest.join(source)), &mut files);
    }
    files.sort();
    // FNV-1a over each file's path below the root and its bytes (carriage returns left out, so a
    // checkout with CRLF line ends agrees): stable across toolchains and platforms, unlike the
    // standard hasher.
    let mut digest: u64 = 0xcbf2_9ce4_8422_2325;
    for file in &files {
        let relative = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .to_string_lossy()
            .replace('\\', "/");
        let bytes = std::fs::read(file).unwrap_or_else(|error| panic!("reading {}: {error}", file.display()));
        for byte in relative
            .bytes()
            .chain([0])
            .chain(bytes.into_iter().filter(|b| *b != b'\r'))
        {
            digest = (digest ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
        }
    }
    println!("cargo:rustc-env=MIAODAN_WIRE_SHAPE={digest:016x}");
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize()
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The `.rs` files at or below `path`, an editor's hidden files left out.
fn collect(path: &Path, files: &mut Vec<PathBuf>) {
    let hidden = path
        .file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with('.'));
    if hidden {
        return;
    }
    if path.is_dir() {
        let entries = std::fs::read_dir(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        for entry in entries {
            let entry = entry.unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            collect(&entry.path(), files);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        files.push(path.to_path_buf());
    }
}
