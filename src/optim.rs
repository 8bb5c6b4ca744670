//! Keras's optimizers by name, on top of dfdx's: SGD, SGD with momentum (classic or
//! Nesterov), RMSprop, Adam and AdamW, as one type [`AnyOptimizer`] that a CLI flag can
//! choose and a learning-rate schedule can adjust.

use std::fmt;
use std::str::FromStr;

use dfdx::nn::tensor_collection::TensorCollection;
use dfdx::optim::{Adam, Optimizer, OptimizerUpdateError, RMSprop, Sgd};
use dfdx::prelude::*;

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

/// One of dfdx's optimizers, chosen at run time; a dfdx [`Optimizer`] itself.
#[derive(Debug)]
pub enum AnyOptimizer<M, E: Dtype, D: Storage<E>> {
    /// SGD, with or without momentum.
    Sgd(Sgd<M, E, D>),
    /// RMSprop.
    RMSprop(RMSprop<M, E, D>),
    /// Adam or AdamW.
    Adam(Adam<M, E, D>),
}

impl<M, E: Dtype, D: Storage<E>> AnyOptimizer<M, E, D> {
    /// Builds the optimizer `cfg` describes for `model`; a hyper-parameter out of range is
    /// an error that names it.
    pub fn new(model: &M, cfg: OptimizerConfig) -> Result<Self, OptimizerError> {
        cfg.validate()?;
        let lr = cfg.lr;
        Ok(match cfg.kind {
            OptimizerKind::Sgd => Self::Sgd(Sgd::new(
                model,
                SgdConfig {
                    lr,
                    momentum: None,
                    weight_decay: None,
                },
            )),
            OptimizerKind::Momentum => Self::Sgd(Sgd::new(
                model,
                SgdConfig {
                    lr,
                    momentum: Some(Momentum::Classic(cfg.momentum)),
                    weight_decay: None,
                },
            )),
            OptimizerKind::Nesterov => Self::Sgd(Sgd::new(
                model,
                SgdConfig {
                    lr,
                    momentum: Some(Momentum::Nesterov(cfg.momentum)),
                    weight_decay: None,
                },
            )),
            // Keras: rho 0.9, epsilon 1e-7. dfdx starts the mean square at 1 (TensorFlow 1),
            // Keras 3 at 0: the first steps are smaller here.
            OptimizerKind::RMSprop => Self::RMSprop(RMSprop::new(
                model,
                RMSpropConfig {
                    lr,
                    alpha: 0.9,
                    eps: 1e-7,
                    momentum: None,
                    centered: false,
                    weight_decay: None,
                },
            )),
            OptimizerKind::Adam => Self::Adam(Adam::new(
                model,
                AdamConfig {
                    lr,
                    betas: [0.9, 0.999],
                    eps: 1e-7,
                    weight_decay: None,
                },
            )),
            OptimizerKind::AdamW => Self::Adam(Adam::new(
                model,
                AdamConfig {
                    lr,
                    betas: [0.9, 0.999],
                    eps: 1e-7,
                    weight_decay: Some(WeightDecay::Decoupled(cfg.weight_decay)),
                },
            )),
        })
    }

    /// The current learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            Self::Sgd(o) => o.cfg.lr,
            Self::RMSprop(o) => o.cfg.lr,
            Self::Adam(o) => o.cfg.lr,
        }
    }

    /// Changes the learning rate (for schedules); the optimizer's state is kept.
    pub fn set_lr(&mut self, lr: f64) {
        match self {
            Self::Sgd(o) => o.cfg.lr = lr,
            Self::RMSprop(o) => o.cfg.lr = lr,
            Self::Adam(o) => o.cfg.lr = lr,
        }
    }
}

impl<M: TensorCollection<E, D>, E: Dtype, D: Device<E>> Optimizer<M, D, E>
    for AnyOptimizer<M, E, D>
{
    fn update(
        &mut self,
        module: &mut M,
        gradients: &Gradients<E, D>,
    ) -> Result<(), OptimizerUpdateError<D::Err>> {
        match self {
            Self::Sgd(o) => o.update(module, gradients),
            Self::RMSprop(o) => o.update(module, gradients),
            Self::Adam(o) => o.update(module, gradients),
        }
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
