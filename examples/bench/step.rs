//! Timing one model: the training step `fit` runs, and inference on one batch.

use std::error::Error;
use std::hint::black_box;
use std::time::Instant;

use dfdx::prelude::*;
use typenet::prelude::*;
use typenet::train::{predicted_classes, sample_factors, weighted_loss, BatchOrder};

/// How long and how often to measure.
#[derive(Debug, Clone, Copy)]
pub struct Opts {
    /// At most this many training steps (run by `typenet::train::fit` itself) before
    /// timing, and only as many as fit in about [`WARMUP_MS`].
    pub warmup: usize,
    /// Steps (or inference batches) per timed repeat; `None`: as many as fill `repeat_ms`.
    pub steps: Option<usize>,
    /// Timed repeats; the median is reported.
    pub repeats: usize,
    /// Target length of one repeat when `steps` is `None`.
    pub repeat_ms: f64,
    /// Time training only (for profiling the training step).
    pub train_only: bool,
}

/// What one process measured for one model.
#[derive(Debug, Clone)]
pub struct Measured {
    pub model: String,
    pub batch: usize,
    pub steps: usize,
    /// ms per training step, one value per repeat.
    pub train_runs: Vec<f64>,
    /// Median ms per step of [forward + loss, backward, optimizer update + zeroing].
    pub split: [f64; 3],
    /// ms per step of the last warm-up epoch, as `fit` itself reports it.
    pub fit_ms: f64,
    pub infer_steps: usize,
    /// ms per inference batch, one value per repeat.
    pub infer_runs: Vec<f64>,
}

pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// About how long the warm-up may take, beyond two probing steps.
pub const WARMUP_MS: f64 = 2000.0;

/// `--steps`, or enough steps of `ms_per_step` to fill `--repeat-ms` (1 to 2000).
fn steps_for(opts: &Opts, ms_per_step: f64) -> usize {
    opts.steps
        .unwrap_or_else(|| ((opts.repeat_ms / ms_per_step).ceil() as usize).clamp(1, 2000))
}

/// Warms `N` up with `fit`, then times `fit`'s step and inference on `data`.
pub fn measure<N>(
    model_name: &str,
    batch: usize,
    data: &Dataset<N::Input>,
    opts: &Opts,
) -> Result<Measured, Box<dyn Error>>
where
    N: NetworkSpec<Output = (Const<10>,)>
        + BuildOnDevice<Cpu, f32, Built = <N as NetworkSpec>::Module<f32, Cpu>>,
{
    let dev = Cpu::seed_from_u64(0);
    let mut model = dev.build_module::<N, f32>();
    let mut opt = AnyOptimizer::new(
        &model,
        OptimizerConfig::new(OptimizerKind::Adam).with_lr(1e-3),
    )?;

    // Warm-up: `fit` itself. Two steps to gauge the model, then two epochs of half the
    // warm-up (at most `--warmup` steps, at most about `WARMUP_MS`); the last epoch's
    // time per step cross-checks the loop below.
    let mut fit_epochs = |steps: usize, epochs: usize| -> Result<f64, Box<dyn Error>> {
        let config = FitConfig {
            epochs,
            batch_size: batch,
            verbose: Verbosity::Silent,
            ..Default::default()
        };
        let history = fit(
            &mut model,
            &mut opt,
            &data.take(steps * batch),
            None,
            &config,
        )?;
        let last = history.epochs.last().ok_or("fit trained no epoch")?;
        Ok(last.seconds * 1e3 / last.steps as f64)
    };
    let probe_ms = fit_epochs(2, 1)?;
    let warm = ((WARMUP_MS / probe_ms) as usize).clamp(2, opts.warmup.max(2));
    let fit_ms = fit_epochs(warm / 2, 2)?;

    let steps = steps_for(opts, fit_ms);
    let mut trainer = Trainer::new(&dev, &mut model, &mut opt, data, batch)?;
    let mut train_runs = Vec::with_capacity(opts.repeats);
    let mut splits: [Vec<f64>; 3] = Default::default();
    for _ in 0..opts.repeats {
        let start = Instant::now();
        let mut split = [0.0; 3];
        for _ in 0..steps {
            let s = trainer.step()?;
            for (acc, v) in split.iter_mut().zip(s) {
                *acc += v;
            }
        }
        train_runs.push(start.elapsed().as_secs_f64() * 1e3 / steps as f64);
        for (list, v) in splits.iter_mut().zip(split) {
            list.push(v * 1e3 / steps as f64);
        }
    }
    let split = [median(&splits[0]), median(&splits[1]), median(&splits[2])];
    drop(trainer);

    // Inference: the whole forward (a final Softmax included), dropout off, batch-norm
    // running statistics; one fixed batch.
    let (mut infer_steps, mut infer_runs) = (0, Vec::with_capacity(opts.repeats));
    if !opts.train_only {
        let idx: Vec<usize> = (0..batch.min(data.len())).collect();
        let x = data.batch::<f32, Cpu>(&dev, &idx)?;
        let time_batch = || -> Result<f64, Box<dyn Error>> {
            let t = Instant::now();
            black_box(model.try_forward_batch(x.clone())?);
            Ok(t.elapsed().as_secs_f64() * 1e3)
        };
        let mut warm_ms = f64::INFINITY;
        for _ in 0..3 {
            warm_ms = warm_ms.min(time_batch()?);
        }
        infer_steps = steps_for(opts, warm_ms);
        for _ in 0..opts.repeats {
            let mut total = 0.0;
            for _ in 0..infer_steps {
                total += time_batch()?;
            }
            infer_runs.push(total / infer_steps as f64);
        }
    }
    Ok(Measured {
        model: model_name.to_string(),
        batch,
        steps,
        train_runs,
        split,
        fit_ms,
        infer_steps,
        infer_runs,
    })
}

/// `fit`'s inner loop, one step at a time (src/train/fit.rs): gather the batch, training
/// forward to the logits, read them back (fit counts the correct ones), sparse categorical
/// cross-entropy from the logits, read the loss, backward, optimizer update, zero the
/// gradients. Batches follow `fit`'s shuffled order, epoch after epoch.
struct Trainer<'a, M: TensorCollection<f32, Cpu>, S: SampleShape> {
    dev: &'a Cpu,
    model: &'a mut M,
    opt: &'a mut AnyOptimizer<M, f32, Cpu>,
    data: &'a Dataset<S>,
    order: BatchOrder,
    epoch: Vec<Vec<usize>>,
    grads: Option<Gradients<f32, Cpu>>,
    labels: Vec<usize>,
}

impl<'a, M, S> Trainer<'a, M, S>
where
    S: SampleShape,
    M: Network<f32, Cpu, InputShape = S, OutputShape = (Const<10>,)>,
{
    fn new(
        dev: &'a Cpu,
        model: &'a mut M,
        opt: &'a mut AnyOptimizer<M, f32, Cpu>,
        data: &'a Dataset<S>,
        batch: usize,
    ) -> Result<Self, Box<dyn Error>> {
        let grads = Some(model.try_alloc_grads()?);
        Ok(Self {
            dev,
            model,
            opt,
            data,
            order: BatchOrder::new(data.len(), batch, 1)?,
            epoch: Vec::new(),
            grads,
            labels: Vec::with_capacity(batch),
        })
    }

    /// One step; seconds of [forward + loss, backward, update + zeroing].
    fn step(&mut self) -> Result<[f64; 3], Box<dyn Error>> {
        if self.epoch.is_empty() {
            self.epoch = self.order.next_epoch().rev().map(<[_]>::to_vec).collect();
        }
        let indices = self.epoch.pop().ok_or("empty epoch")?;
        let t0 = Instant::now();
        let x = self.data.batch::<f32, Cpu>(self.dev, &indices)?;
        self.labels.clear();
        self.labels
            .extend(indices.iter().filter_map(|&i| self.data.labels().get(i)));
        let grads = self.grads.take().ok_or("gradients lost")?;
        let logits = self.model.try_forward_logits_mut(x.traced(grads))?;
        let values = logits.as_vec();
        let correct = predicted_classes(&values, 10)
            .iter()
            .zip(&self.labels)
            .filter(|(p, l)| p == l)
            .count();
        black_box(correct);
        let loss_kind = Loss::default();
        let targets = loss_kind.targets::<f32>(&self.labels, 10)?;
        let factors = sample_factors(&self.labels, None)?;
        let loss = weighted_loss(&loss_kind, logits, targets, &factors, M::ENDS_IN_SOFTMAX)?;
        let value = loss.as_vec().first().copied().unwrap_or(f32::NAN);
        if !value.is_finite() {
            return Err(format!("the loss became {value}").into());
        }
        let t1 = Instant::now();
        let mut grads = loss.try_backward()?;
        let t2 = Instant::now();
        self.opt
            .step_and_zero_grads(self.model, &mut grads)
            .map_err(|e| format!("optimizer update: {e}"))?;
        self.grads = Some(grads);
        let t3 = Instant::now();
        Ok([
            (t1 - t0).as_secs_f64(),
            (t2 - t1).as_secs_f64(),
            (t3 - t2).as_secs_f64(),
        ])
    }
}
