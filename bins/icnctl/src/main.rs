//! `icnctl`, the operator CLI of an ICN node. Its commands arrive with the RPC API (network issue);
//! until then it only says so.

fn main() -> std::process::ExitCode {
    eprintln!("icnctl: no commands yet; the node's control API is not built");
    std::process::ExitCode::from(2)
}
