//! The progress bar on stderr (hidden when stderr is not a terminal, and in tests).

use std::io::IsTerminal as _;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Progress of the current stage; cheap to clone.
#[derive(Clone)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar on stderr when it is a terminal, hidden otherwise.
    pub fn stderr() -> Self {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{elapsed_precise:.dim} {msg:32} [{bar:30}] {pos}/{len}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            Self { bar }
        } else {
            Self::hidden()
        }
    }

    /// A bar that draws nothing.
    pub fn hidden() -> Self {
        Self {
            bar: ProgressBar::hidden(),
        }
    }

    /// Starts a stage of `len` steps named `name`.
    pub fn stage(&self, name: &str, len: u64) {
        self.bar.set_message(name.to_owned());
        self.bar.set_length(len);
        self.bar.set_position(0);
    }

    /// Advances the current stage.
    pub fn inc(&self, steps: u64) {
        self.bar.inc(steps);
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
