//! Real `icnd` processes, for tests of signals, exit codes and external tools.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A running `icnd run` process. Killed (SIGKILL) on drop if still running.
pub struct IcndProcess {
    child: Child,
    data_dir: PathBuf,
    stderr_path: PathBuf,
}

impl IcndProcess {
    /// Starts `bin run --data-dir data_dir --metrics-addr 127.0.0.1:0 <extra>` with stderr going
    /// to `data_dir/../<name>.stderr`, and waits until the metrics address file appears.
    ///
    /// # Errors
    /// When the process cannot start or exits before serving.
    pub fn start(bin: &Path, data_dir: &Path, extra: &[&str]) -> anyhow::Result<Self> {
        let mut process = Self::spawn(bin, data_dir, extra)?;
        process.wait_for_metrics_addr(Duration::from_secs(20))?;
        Ok(process)
    }

    /// Like [`IcndProcess::start`], with `launcher` put before `bin` on the command line (e.g.
    /// `["ip", "netns", "exec", "ns1"]`; the launcher must exec `bin` in its own process).
    ///
    /// # Errors
    /// When the process cannot start or exits before serving.
    pub fn start_via(
        launcher: &[&str],
        bin: &Path,
        data_dir: &Path,
        extra: &[&str],
    ) -> anyhow::Result<Self> {
        let mut process = Self::spawn_via(launcher, bin, data_dir, extra)?;
        process.wait_for_metrics_addr(Duration::from_secs(20))?;
        Ok(process)
    }

    /// Spawns without waiting for anything.
    ///
    /// # Errors
    /// When the process cannot start.
    pub fn spawn(bin: &Path, data_dir: &Path, extra: &[&str]) -> anyhow::Result<Self> {
        Self::spawn_via(&[], bin, data_dir, extra)
    }

    fn spawn_via(
        launcher: &[&str],
        bin: &Path,
        data_dir: &Path,
        extra: &[&str],
    ) -> anyhow::Result<Self> {
        let parent = data_dir.parent().unwrap_or(data_dir);
        let name = data_dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "icnd".into());
        let stderr_path = parent.join(format!("{name}.stderr"));
        Self::spawn_command(launcher, bin, data_dir, extra, &stderr_path)
    }

    /// Like [`IcndProcess::start`], with stderr going to `stderr_path` (created or truncated).
    ///
    /// # Errors
    /// When the process cannot start or exits before serving.
    pub fn start_logged(
        bin: &Path,
        data_dir: &Path,
        extra: &[&str],
        stderr_path: &Path,
    ) -> anyhow::Result<Self> {
        let mut process = Self::spawn_logged(bin, data_dir, extra, stderr_path)?;
        process.wait_for_metrics_addr(Duration::from_secs(20))?;
        Ok(process)
    }

    /// Spawns without waiting, with stderr going to `stderr_path` (created or truncated).
    ///
    /// # Errors
    /// When the process cannot start.
    pub fn spawn_logged(
        bin: &Path,
        data_dir: &Path,
        extra: &[&str],
        stderr_path: &Path,
    ) -> anyhow::Result<Self> {
        Self::spawn_command(&[], bin, data_dir, extra, stderr_path)
    }

    /// `[launcher...] bin run --data-dir DIR` on free loopback ports unless `extra` names them.
    fn spawn_command(
        launcher: &[&str],
        bin: &Path,
        data_dir: &Path,
        extra: &[&str],
        stderr_path: &Path,
    ) -> anyhow::Result<Self> {
        if let Some(parent) = stderr_path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let stderr = std::fs::File::create(stderr_path)?;
        // Runtime files of a previous (perhaps killed) run must not look like this run's.
        for stale in ["metrics.addr", "rpc.addr", "p2p.addr"] {
            let _ = std::fs::remove_file(data_dir.join(stale));
        }
        let has_metrics_addr = extra.iter().any(|a| a.starts_with("--metrics-addr"));
        let mut command = match launcher.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(bin);
                command
            }
            None => Command::new(bin),
        };
        command.arg("run").arg("--data-dir").arg(data_dir);
        if !has_metrics_addr {
            command.args(["--metrics-addr", "127.0.0.1:0"]);
        }
        if !extra.iter().any(|a| a.starts_with("--rpc-addr")) {
            command.args(["--rpc-addr", "127.0.0.1:0"]);
        }
        if !extra.iter().any(|a| a.starts_with("--listen")) {
            command.args(["--listen", "127.0.0.1:0"]);
        }
        command
            .args(extra)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let child = command.spawn()?;
        Ok(Self {
            child,
            data_dir: data_dir.to_path_buf(),
            stderr_path: stderr_path.to_path_buf(),
        })
    }

    fn wait_for_metrics_addr(&mut self, timeout: Duration) -> anyhow::Result<SocketAddr> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(addr) = self.metrics_addr()
                && self.data_dir.join("rpc.addr").exists()
            {
                return Ok(addr);
            }
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "icnd exited with {status} before serving:\n{}",
                    self.stderr()
                );
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "icnd did not write metrics.addr and rpc.addr in {timeout:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The bound metrics address, once written.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        std::fs::read_to_string(self.data_dir.join("metrics.addr"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// The data directory the process runs on.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Where the process's stderr goes.
    pub fn stderr_path(&self) -> &Path {
        &self.stderr_path
    }

    /// The exit status if the process has exited, `None` while it runs.
    ///
    /// # Errors
    /// When the status cannot be read.
    pub fn try_exit_status(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// Everything the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Sends a signal.
    ///
    /// # Errors
    /// When the signal cannot be delivered.
    pub fn signal(&self, signal: Signal) -> anyhow::Result<()> {
        let pid = i32::try_from(self.child.id())?;
        kill(Pid::from_raw(pid), signal)?;
        Ok(())
    }

    /// Waits for the process to exit, at most `timeout`.
    ///
    /// # Errors
    /// When it is still running after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "icnd still running after {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for IcndProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
