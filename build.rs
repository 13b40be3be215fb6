//! Build information for `coffer --version`: the git commit the binary was built from
//! (`unknown` outside a git checkout).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=COFFER_GIT_COMMIT");
    // A build without the repository (a Docker context) is told the commit.
    if let Ok(commit) = std::env::var("COFFER_GIT_COMMIT") {
        println!("cargo:rustc-env=COFFER_GIT_COMMIT={commit}");
        return;
    }
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=COFFER_GIT_COMMIT={commit}");
    // A new commit (or checkout) changes HEAD or the ref it points at.
    if std::path::Path::new(".git/HEAD").exists() {
        println!("cargo:rerun-if-changed=.git/HEAD");
    }
    if let Ok(head) = std::fs::read_to_string(".git/HEAD") {
        if let Some(r) = head.strip_prefix("ref: ") {
            let r = format!(".git/{}", r.trim());
            if std::path::Path::new(&r).exists() {
                println!("cargo:rerun-if-changed={r}");
            }
        }
    }
}
