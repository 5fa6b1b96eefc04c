//! `icn-bench`, cluster benchmarks printing JSON. Its scenarios arrive with the performance issue;
//! until then it only says so.

fn main() -> std::process::ExitCode {
    eprintln!("icn-bench: no benchmarks yet");
    std::process::ExitCode::from(2)
}
