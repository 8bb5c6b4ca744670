//! Keras's optimizers by name, on dfdx's update rules: SGD, SGD with momentum (classic or
//! Nesterov), RMSprop, Adam and AdamW, as one type [`AnyOptimizer`] that a CLI flag can
//! choose and a learning-rate schedule can adjust, multi-threaded on the CPU.

use std::fmt;
use std::str::FromStr;

use std::marker::PhantomData;

use dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut,
};
use dfdx::optim::{Adam, Optimizer, OptimizerUpdateError, RMSprop, Sgd};
use dfdx::prelude::*;

use crate::backend::{Backend, Element, UpdateRule};
use crate::ops::optim::{self, UpdateState};

/// Which optimizer; parses from `sgd`, `momentum`, `nesterov`, `rmsprop`, `adam`, `adamw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptimizerKind {
    /// Plain stochastic gradient descent.
    Sgd,
    /// SGD with classic momentum.
    Momentum,
    /// SGD with Nesterov momentum.
    Nesterov,
    /// RMSprop.
    RMSprop,
    /// Adam.
    Adam,
    /// Adam with decoupled weight decay.
    AdamW,
}

impl OptimizerKind {
    /// Every kind, with the name it parses from.
    pub const ALL: [(OptimizerKind, &'static str); 6] = [
        (Self::Sgd, "sgd"),
        (Self::Momentum, "momentum"),
        (Self::Nesterov, "nesterov"),
        (Self::RMSprop, "rmsprop"),
        (Self::Adam, "adam"),
        (Self::AdamW, "adamw"),
    ];

    /// The name it parses from.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("?", |(_, n)| n)
    }
}

impl fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OptimizerKind {
    type Err = OptimizerError;
    fn from_str(s: &str) -> Result<Self, OptimizerError> {
        let lower = s.to_ascii_lowercase();
        Self::ALL
            .iter()
            .find(|(_, n)| *n == lower)
            .map(|(k, _)| *k)
            .ok_or_else(|| OptimizerError::UnknownKind {
                name: s.to_string(),
            })
    }
}

/// An optimizer name or hyper-parameter that is not accepted; the message says what to use
/// instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OptimizerError {
    /// A name that is none of [`OptimizerKind::ALL`].
    #[error("unknown optimizer {name:?}; use one of {}", kind_names())]
    UnknownKind {
        /// The name given.
        name: String,
    },
    /// A learning rate that is not a positive finite number.
    #[error("learning rate must be a positive finite number, got {0}")]
    LearningRate(f64),
    /// A momentum outside `[0, 1)`.
    #[error("momentum must be in [0, 1), got {0}")]
    Momentum(f64),
    /// A weight decay that is negative or not finite.
    #[error("weight decay must be a finite number >= 0, got {0}")]
    WeightDecay(f64),
}

/// The names [`OptimizerKind`] parses from, for messages.
fn kind_names() -> String {
    let names: Vec<&str> = OptimizerKind::ALL.iter().map(|(_, n)| *n).collect();
    names.join(", ")
}

/// The hyper-parameters of an [`AnyOptimizer`]; the defaults are Keras's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptimizerConfig {
    /// Which optimizer.
    pub kind: OptimizerKind,
    /// Learning rate (Keras: 0.01 for SGD, 0.001 for the others).
    pub lr: f64,
    /// Momentum for `momentum` and `nesterov` (0.9).
    pub momentum: f64,
    /// Decoupled weight decay for `adamw` (0.004, as Keras 3).
    pub weight_decay: f64,
}

impl OptimizerConfig {
    /// `kind` with Keras's default hyper-parameters.
    pub fn new(kind: OptimizerKind) -> Self {
        let lr = match kind {
            OptimizerKind::Sgd | OptimizerKind::Momentum | OptimizerKind::Nesterov => 0.01,
            _ => 0.001,
        };
        Self {
            kind,
            lr,
            momentum: 0.9,
            weight_decay: 0.004,
        }
    }

    /// The same with another learning rate.
    pub fn with_lr(mut self, lr: f64) -> Self {
        self.lr = lr;
        self
    }

    /// An error naming the first hyper-parameter out of range.
    pub fn validate(&self) -> Result<(), OptimizerError> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(OptimizerError::LearningRate(self.lr));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(OptimizerError::Momentum(self.momentum));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(OptimizerError::WeightDecay(self.weight_decay));
        }
        Ok(())
    }
}

/// Keras's optimizers on dfdx's update rules, chosen at run time; a dfdx [`Optimizer`]
/// itself. Its steps are dfdx's `Sgd`, `RMSprop` and `Adam` to the bit; on `Cpu` each
/// parameter's update runs over chunks on all of rayon's threads (dfdx's run on one).
///
/// [`fit`](crate::train::fit) steps it through [`OptimizerStep::step_and_zero_grads`],
/// which reads the gradients in place and zeroes them as it reads them;
/// [`Optimizer::update`] takes them by shared reference, as dfdx's trait says, and so
/// works on a copy of them.
///
/// Every parameter needs a gradient (as `alloc_grads` and `fit` provide): one missing from
/// the gradients counts as zero (dfdx's optimizers would skip it and report it unused).
pub struct AnyOptimizer<M, E: Dtype, D: Storage<E>> {
    rule: UpdateRule,
    steps: usize,
    state: UpdateState<E, D>,
    marker: PhantomData<*const M>,
}

impl<M, E: Dtype, D: Storage<E>> fmt::Debug for AnyOptimizer<M, E, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnyOptimizer")
            .field("rule", &self.rule)
            .field("steps", &self.steps)
            .finish_non_exhaustive()
    }
}

impl<M, E: Dtype, D: Storage<E>> AnyOptimizer<M, E, D> {
    /// Builds the optimizer `cfg` describes for `model`; a hyper-parameter out of range is
    /// an error that names it.
    pub fn new(_model: &M, cfg: OptimizerConfig) -> Result<Self, OptimizerError> {
        cfg.validate()?;
        let lr = cfg.lr;
        let sgd = |momentum| {
            UpdateRule::Sgd(SgdConfig {
                lr,
                momentum,
                weight_decay: None,
            })
        };
        let adam = |weight_decay| UpdateRule::Adam {
            cfg: AdamConfig {
                lr,
                betas: [0.9, 0.999],
                eps: 1e-7,
                weight_decay,
            },
            t: 0,
        };
        let rule = match cfg.kind {
            OptimizerKind::Sgd => sgd(None),
            OptimizerKind::Momentum => sgd(Some(Momentum::Classic(cfg.momentum))),
            OptimizerKind::Nesterov => sgd(Some(Momentum::Nesterov(cfg.momentum))),
            // Keras: rho 0.9, epsilon 1e-7. dfdx starts the mean square at 1 (TensorFlow 1),
            // Keras 3 at 0: the first steps are smaller here.
            OptimizerKind::RMSprop => UpdateRule::RMSprop {
                cfg: RMSpropConfig {
                    lr,
                    alpha: 0.9,
                    eps: 1e-7,
                    momentum: None,
                    centered: false,
                    weight_decay: None,
                },
                first: true,
            },
            OptimizerKind::Adam => adam(None),
            OptimizerKind::AdamW => adam(Some(WeightDecay::Decoupled(cfg.weight_decay))),
        };
        Ok(Self {
            rule,
            steps: 0,
            state: optim::new_update_state(),
            marker: PhantomData,
        })
    }

    /// The current learning rate.
    pub fn lr(&self) -> f64 {
        match &self.rule {
            UpdateRule::Sgd(c) => c.lr,
            UpdateRule::RMSprop { cfg, .. } => cfg.lr,
            UpdateRule::Adam { cfg, .. } => cfg.lr,
        }
    }

    /// Changes the learning rate (for schedules); the optimizer's state is kept.
    pub fn set_lr(&mut self, lr: f64) {
        match &mut self.rule {
            UpdateRule::Sgd(c) => c.lr = lr,
            UpdateRule::RMSprop { cfg, .. } => cfg.lr = lr,
            UpdateRule::Adam { cfg, .. } => cfg.lr = lr,
        }
    }

    /// How many steps it has taken.
    pub fn steps(&self) -> usize {
        self.steps
    }
}

/// An optimizer step that may read the gradients in place (what [`fit`](crate::train::fit)
/// calls); by default dfdx's [`Optimizer::update`].
pub trait OptimizerStep<M, D: Storage<E>, E: Dtype>: Optimizer<M, D, E> {
    /// Updates `module`'s parameters from `gradients` (left as they were, or zero where
    /// the module had none).
    fn step(
        &mut self,
        module: &mut M,
        gradients: &mut Gradients<E, D>,
    ) -> Result<(), OptimizerUpdateError<D::Err>> {
        self.update(module, gradients)
    }

    /// [`step`](Self::step), then every trainable parameter's gradient set to zero and
    /// other entries dropped, as dfdx's `try_zero_grads` does (for gradients from
    /// `alloc_grads`, as [`fit`](crate::train::fit)'s: their leaves are the parameters).
    /// `AnyOptimizer` on `Cpu` zeroes each gradient in the pass that reads it.
    fn step_and_zero_grads(
        &mut self,
        module: &mut M,
        gradients: &mut Gradients<E, D>,
    ) -> Result<(), OptimizerUpdateError<D::Err>>
    where
        M: TensorCollection<E, D>,
        D: Device<E>,
    {
        self.step(module, gradients)?;
        module
            .try_zero_grads(gradients)
            .map_err(OptimizerUpdateError::DeviceError)
    }
}

impl<M: TensorCollection<E, D>, E: Dtype, D: Device<E>> OptimizerStep<M, D, E> for Sgd<M, E, D> {}
impl<M: TensorCollection<E, D>, E: Dtype, D: Device<E>> OptimizerStep<M, D, E> for Adam<M, E, D> {}
impl<M: TensorCollection<E, D>, E: Dtype, D: Device<E>> OptimizerStep<M, D, E>
    for RMSprop<M, E, D>
{
}

impl<M: TensorCollection<E, D>, E: Element, D: Backend<E>> OptimizerStep<M, D, E>
    for AnyOptimizer<M, E, D>
{
    fn step(
        &mut self,
        module: &mut M,
        gradients: &mut Gradients<E, D>,
    ) -> Result<(), OptimizerUpdateError<D::Err>> {
        self.run(module, gradients, false).map(|_| ())
    }

    fn step_and_zero_grads(
        &mut self,
        module: &mut M,
        gradients: &mut Gradients<E, D>,
    ) -> Result<(), OptimizerUpdateError<D::Err>> {
        if self.run(module, gradients, true)? {
            gradients.drop_non_leafs();
            Ok(())
        } else {
            module
                .try_zero_grads(gradients)
                .map_err(OptimizerUpdateError::DeviceError)
        }
    }
}

impl<M: TensorCollection<E, D>, E: Element, D: Backend<E>> AnyOptimizer<M, E, D> {
    /// One step over every trainable parameter; with `zero_grad`, whether the device left
    /// every gradient zero.
    fn run(
        &mut self,
        module: &mut M,
        gradients: &mut Gradients<E, D>,
        zero_grad: bool,
    ) -> Result<bool, OptimizerUpdateError<D::Err>> {
        let mut rule = self.rule;
        match &mut rule {
            UpdateRule::Adam { t, .. } => {
                // dfdx's Adam panics past i32::MAX steps; this says so instead.
                *t = i32::try_from(self.steps + 1)
                    .map_err(|_| OptimizerUpdateError::DeviceError(D::shape_error()))?;
            }
            UpdateRule::RMSprop { first, .. } => *first = self.steps == 0,
            UpdateRule::Sgd(_) => {}
        }
        let mut visit = StepVisitor {
            rule,
            state: &mut self.state,
            grads: gradients,
            zero_grad,
            zeroed: true,
        };
        M::iter_tensors(&mut RecursiveWalker {
            m: module,
            f: &mut visit,
        })
        .map_err(OptimizerUpdateError::DeviceError)?;
        self.steps += 1;
        Ok(zero_grad && visit.zeroed)
    }
}

impl<M: TensorCollection<E, D>, E: Element, D: Backend<E>> Optimizer<M, D, E>
    for AnyOptimizer<M, E, D>
{
    fn update(
        &mut self,
        module: &mut M,
        gradients: &Gradients<E, D>,
    ) -> Result<(), OptimizerUpdateError<D::Err>> {
        self.step(module, &mut gradients.clone())
    }
}

/// Visits every trainable parameter with its gradient for one step of `rule`.
struct StepVisitor<'a, E: Dtype, D: Storage<E>> {
    rule: UpdateRule,
    state: &'a mut UpdateState<E, D>,
    grads: &'a mut Gradients<E, D>,
    /// Whether to ask the device to zero each gradient, and whether it zeroed all so far.
    zero_grad: bool,
    zeroed: bool,
}

impl<E: Element, D: Backend<E>> TensorVisitor<E, D> for StepVisitor<'_, E, D> {
    type Viewer = ViewTensorMut;
    type Err = D::Err;
    type E2 = E;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, E, D>,
        p: &mut Tensor<S, E, D>,
    ) -> Result<Option<Tensor<S, E, D>>, D::Err> {
        if opts.do_gradient_update {
            let g = self.grads.get_or_alloc_mut(p)?;
            self.zeroed &= D::optimizer_step(&self.rule, p, g, self.state, self.zero_grad)?;
        }
        Ok(None)
    }
}

/// An optimizer whose learning rate can be read and changed between steps (what
/// [`fit`](crate::train::fit) needs for learning-rate schedules and for logging the rate).
pub trait LearningRate {
    /// The current learning rate.
    fn lr(&self) -> f64;
    /// Sets the learning rate; the optimizer's other state (moments, momentum) is kept.
    fn set_lr(&mut self, lr: f64);
}

impl<M, E: Dtype, D: Storage<E>> LearningRate for AnyOptimizer<M, E, D> {
    fn lr(&self) -> f64 {
        AnyOptimizer::lr(self)
    }
    fn set_lr(&mut self, lr: f64) {
        AnyOptimizer::set_lr(self, lr)
    }
}

macro_rules! dfdx_learning_rate {
    ($($opt:ident),*) => {$(
        impl<M, E: Dtype, D: Storage<E>> LearningRate for $opt<M, E, D> {
            fn lr(&self) -> f64 {
                self.cfg.lr
            }
            fn set_lr(&mut self, lr: f64) {
                self.cfg.lr = lr;
            }
        }
    )*};
}
dfdx_learning_rate!(Sgd, Adam, RMSprop);
