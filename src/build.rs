//! The commit the library is built from, for `pipeline --version` and the
//! `revision` label of `pipeline_build_info` (operators tell two builds of
//! one version apart by it): `$PIPELINE_REVISION` when the build sets it (a
//! container build has no `.git`: `--build-arg PIPELINE_REVISION=…`), else
//! `git rev-parse`, else "unknown".

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=PIPELINE_REVISION");
    println!("cargo:rerun-if-changed=build.rs");
    let given = std::env::var("PIPELINE_REVISION")
        .ok()
        .filter(|r| !r.trim().is_empty());
    let revision = given
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=PIPELINE_REVISION={revision}");
    // A new commit moves HEAD or the branch it names. Only files that
    // exist: a missing one would make cargo run this (and rebuild the
    // library) on every build.
    let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) else {
        return;
    };
    let branch = git(&["symbolic-ref", "-q", "HEAD"]);
    let watched = ["HEAD", "packed-refs"]
        .into_iter()
        .map(String::from)
        .chain(branch);
    for path in watched.map(|p| PathBuf::from(&dir).join(p)) {
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}
