//! The progress bar shown during an epoch.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar over one epoch's steps on stderr, Keras style. Hidden when `verbose` is
/// off or stderr is not a terminal (then it costs nothing per step).
pub(crate) struct EpochBar {
    bar: ProgressBar,
}

/// `Epoch 1/10 234/469 [=======>       ] 4s<4s loss: 0.3748 - accuracy: 0.8966`; the bar
/// takes the width that is left, so the line never wraps on a terminal of 80 columns.
const TEMPLATE: &str = "{prefix} {pos}/{len} [{wide_bar}] {elapsed}<{eta} {msg}";

impl EpochBar {
    pub(crate) fn new(epoch: usize, epochs: usize, steps: usize, verbose: bool) -> Self {
        if !verbose || !std::io::stderr().is_terminal() {
            return Self {
                bar: ProgressBar::hidden(),
            };
        }
        let bar = ProgressBar::with_draw_target(Some(steps as u64), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(TEMPLATE) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(format!("Epoch {epoch}/{epochs}"));
        Self { bar }
    }

    /// One step done; `loss` and `accuracy` are the epoch's running means so far.
    pub(crate) fn step(&self, loss: f64, accuracy: f64) {
        if self.bar.is_hidden() {
            return;
        }
        self.bar
            .set_message(format!("loss: {loss:.4} - accuracy: {accuracy:.4}"));
        self.bar.inc(1);
    }

    /// Removes the bar (the caller then prints the epoch's summary line).
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for EpochBar {
    /// An epoch that ends with an error leaves no half-drawn bar behind.
    fn drop(&mut self) {
        if !self.bar.is_finished() {
            self.bar.finish_and_clear();
        }
    }
}
