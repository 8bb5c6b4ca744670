//! Each optimizer's first two steps against values computed by hand.

use dfdx::optim::Optimizer;
use dfdx::prelude::*;
use typenet::optim::{AnyOptimizer, OptimizerConfig, OptimizerKind};

type W = Tensor<Rank1<3>, f64, Cpu>;
const W0: [f64; 3] = [0.5, -1.0, 2.0];
const G: [f64; 3] = [0.2, -0.4, 1.5];

/// Two steps with the constant gradient `G`; returns the weights after each.
fn two_steps(cfg: OptimizerConfig) -> [[f64; 3]; 2] {
    let dev = Cpu::default();
    let mut w: W = dev.tensor(W0);
    let mut opt = AnyOptimizer::new(&w, cfg).unwrap();
    let mut out = [[0.0; 3]; 2];
    for o in out.iter_mut() {
        let g = dev.tensor(G);
        // loss = sum(w * G): its gradient is G.
        let grads = (w.leaky_trace() * g).sum().backward();
        opt.update(&mut w, &grads).unwrap();
        *o = w.array();
    }
    out
}

fn close(got: [f64; 3], want: [f64; 3], what: &str) {
    for i in 0..3 {
        assert!(
            (got[i] - want[i]).abs() < 1e-8,
            "{what}[{i}]: got {}, want {}",
            got[i],
            want[i]
        );
    }
}

fn each(f: impl Fn(usize) -> f64) -> [f64; 3] {
    [f(0), f(1), f(2)]
}

#[test]
fn sgd() {
    let [w1, w2] = two_steps(OptimizerConfig::new(OptimizerKind::Sgd).with_lr(0.1));
    close(w1, each(|i| W0[i] - 0.1 * G[i]), "step 1");
    close(w2, each(|i| W0[i] - 0.2 * G[i]), "step 2");
}

#[test]
fn momentum() {
    // v1 = g, v2 = 0.9 g + g.
    let [w1, w2] = two_steps(OptimizerConfig::new(OptimizerKind::Momentum).with_lr(0.1));
    close(w1, each(|i| W0[i] - 0.1 * G[i]), "step 1");
    close(
        w2,
        each(|i| W0[i] - 0.1 * G[i] - 0.1 * 1.9 * G[i]),
        "step 2",
    );
}

#[test]
fn nesterov() {
    // v1 = g, update lr (g + 0.9 v1); v2 = 1.9 g, update lr (g + 0.9 * 1.9 g).
    let [w1, w2] = two_steps(OptimizerConfig::new(OptimizerKind::Nesterov).with_lr(0.1));
    close(w1, each(|i| W0[i] - 0.1 * 1.9 * G[i]), "step 1");
    close(
        w2,
        each(|i| W0[i] - 0.1 * 1.9 * G[i] - 0.1 * 2.71 * G[i]),
        "step 2",
    );
}

#[test]
fn rmsprop() {
    // dfdx starts the mean square at 1 (as TensorFlow 1 did): s1 = 0.9 + 0.1 g^2,
    // s2 = 0.9 s1 + 0.1 g^2; update lr g / (sqrt(s) + 1e-7).
    let [w1, w2] = two_steps(OptimizerConfig::new(OptimizerKind::RMSprop).with_lr(0.01));
    let s1 = |i: usize| 0.9 + 0.1 * G[i] * G[i];
    let s2 = |i: usize| 0.9 * s1(i) + 0.1 * G[i] * G[i];
    let step = |s: f64, i: usize| 0.01 * G[i] / (s.sqrt() + 1e-7);
    close(w1, each(|i| W0[i] - step(s1(i), i)), "step 1");
    close(
        w2,
        each(|i| W0[i] - step(s1(i), i) - step(s2(i), i)),
        "step 2",
    );
}

fn adam_step(t: i32, i: usize) -> f64 {
    // With a constant gradient the bias-corrected moments are g and g^2.
    let (b1, b2) = (0.9f64, 0.999f64);
    let m = (1.0 - b1.powi(t)) * G[i] / (1.0 - b1.powi(t));
    let v = (1.0 - b2.powi(t)) * G[i] * G[i] / (1.0 - b2.powi(t));
    0.001 * m / (v.sqrt() + 1e-7)
}

#[test]
fn adam() {
    let [w1, w2] = two_steps(OptimizerConfig::new(OptimizerKind::Adam));
    close(w1, each(|i| W0[i] - adam_step(1, i)), "step 1");
    close(
        w2,
        each(|i| W0[i] - adam_step(1, i) - adam_step(2, i)),
        "step 2",
    );
}

#[test]
fn adamw() {
    // Decoupled decay first: w <- w (1 - lr wd), then the Adam step.
    let mut cfg = OptimizerConfig::new(OptimizerKind::AdamW);
    cfg.weight_decay = 0.5;
    let [w1, w2] = two_steps(cfg);
    let d = 1.0 - 0.001 * 0.5;
    let want1 = each(|i| W0[i] * d - adam_step(1, i));
    close(w1, want1, "step 1");
    close(w2, each(|i| want1[i] * d - adam_step(2, i)), "step 2");
}

#[test]
fn names_parse_and_bad_values_are_refused() {
    for (kind, name) in OptimizerKind::ALL {
        assert_eq!(name.parse::<OptimizerKind>().unwrap(), kind);
        assert_eq!(kind.to_string(), name);
    }
    let e = "adagrad".parse::<OptimizerKind>().unwrap_err().to_string();
    assert!(
        e.contains("unknown optimizer \"adagrad\"") && e.contains("adamw"),
        "{e}"
    );
    let w: W = Cpu::default().tensor(W0);
    let e = AnyOptimizer::<W, f64, Cpu>::new(
        &w,
        OptimizerConfig::new(OptimizerKind::Adam).with_lr(-1.0),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("learning rate"), "{e}");
    let mut opt =
        AnyOptimizer::<W, f64, Cpu>::new(&w, OptimizerConfig::new(OptimizerKind::Sgd)).unwrap();
    assert_eq!(opt.lr(), 0.01);
    opt.set_lr(0.5);
    assert_eq!(opt.lr(), 0.5);
}
