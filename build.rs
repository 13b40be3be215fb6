//! Build information: for `coffer --version`, the git commit the binary was built from
//! (`unknown` outside a git checkout); for `coffer plugins list`, the package names of this
//! workspace's members (the in-tree crates; a plugin from any other crate is a linked one).

use std::process::Command;

/// The package names of the workspace's members, from `Cargo.toml`'s `members` list.
fn workspace_crates() -> Vec<String> {
    println!("cargo:rerun-if-changed=Cargo.toml");
    let manifest = std::fs::read_to_string("Cargo.toml").unwrap_or_default();
    let members = manifest
        .split_once("members = [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list)
        .unwrap_or("");
    members
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty())
        .filter_map(|dir| {
            let path = std::path::Path::new(dir).join("Cargo.toml");
            println!("cargo:rerun-if-changed={}", path.display());
            let text = std::fs::read_to_string(&path).ok()?;
            let package = text.split_once("[package]")?.1;
            let name = package
                .lines()
                .find_map(|l| l.trim().strip_prefix("name = "))?;
            Some(name.trim().trim_matches('"').to_owned())
        })
        .collect()
}

fn main() {
    println!(
        "cargo:rustc-env=COFFER_IN_TREE_CRATES={}",
        workspace_crates().join(",")
    );
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
