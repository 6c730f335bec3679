//! Shared by the process tests: the `kv_server` binary, built if needed.

use std::path::PathBuf;
use std::sync::Once;

/// The path of the `kv_server` example, built first (running one test target alone does not
/// build the examples).
pub fn kv_server() -> PathBuf {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "-q", "-p", "examples", "--example", "kv_server"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building kv_server failed");
    });
    // target/<profile>/deps/<this test> -> target/<profile>/examples/kv_server
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("kv_server")
}
