//! Shared by the process tests: the `kv_server` binary, built if needed.

use std::path::PathBuf;
use std::sync::Once;

/// The path of the `kv_server` example, built first with this test's profile (running one test
/// target alone does not build the examples).
pub fn kv_server() -> PathBuf {
    // target/<profile>/deps/<this test> -> target/<profile>/examples/kv_server
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut args = vec!["build", "-q", "-p", "examples", "--example", "kv_server"];
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            args.push("--release");
        }
        let status = std::process::Command::new(cargo)
            .args(&args)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building kv_server failed");
    });
    profile_dir.join("examples").join("kv_server")
}
