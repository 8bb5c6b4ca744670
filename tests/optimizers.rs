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

// --- The multi-threaded CPU steps against dfdx's own kernels and optimizers, to the bit.

use dfdx::optim::{Adam, RMSprop, Sgd};
use typenet::__private::ops::{cpu, generic};
use typenet::backend::{new_update_state, UpdateRule};
use typenet::optim::OptimizerStep;

/// Every branch of dfdx's three kernels: weight decay of each kind, both momenta, RMSprop
/// centred or not, with and without momentum.
fn rules() -> Vec<UpdateRule> {
    let decays = [
        None,
        Some(WeightDecay::L2(0.01)),
        Some(WeightDecay::Decoupled(0.02)),
    ];
    let mut out = Vec::new();
    for wd in decays {
        for momentum in [
            None,
            Some(Momentum::Classic(0.9)),
            Some(Momentum::Nesterov(0.8)),
        ] {
            out.push(UpdateRule::Sgd(SgdConfig {
                lr: 0.05,
                momentum,
                weight_decay: wd,
            }));
        }
        for (centered, momentum) in [
            (false, None),
            (true, None),
            (false, Some(0.5)),
            (true, Some(0.9)),
        ] {
            out.push(UpdateRule::RMSprop {
                cfg: RMSpropConfig {
                    lr: 0.01,
                    alpha: 0.9,
                    eps: 1e-7,
                    momentum,
                    centered,
                    weight_decay: wd,
                },
                first: true,
            });
        }
        out.push(UpdateRule::Adam {
            cfg: AdamConfig {
                lr: 1e-3,
                betas: [0.9, 0.999],
                eps: 1e-7,
                weight_decay: wd,
            },
            t: 1,
        });
    }
    out
}

/// `rule` at step `step` (from 0).
fn at_step(rule: UpdateRule, step: usize) -> UpdateRule {
    match rule {
        UpdateRule::RMSprop { cfg, .. } => UpdateRule::RMSprop {
            cfg,
            first: step == 0,
        },
        UpdateRule::Adam { cfg, .. } => UpdateRule::Adam {
            cfg,
            t: step as i32 + 1,
        },
        r => r,
    }
}

/// `g` as the gradient buffer of `p` (and of its clones, which share its id): the
/// gradient of `sum(p * g)`.
fn gradient<E: Dtype>(
    p: &Tensor<(usize,), E, Cpu>,
    g: Tensor<(usize,), E, Cpu>,
) -> Gradients<E, Cpu>
where
    Cpu: Device<E>,
{
    (p.leaky_trace() * g).sum().backward()
}

#[test]
fn cpu_steps_match_dfdx_kernels_bit_for_bit() {
    let dev = Cpu::seed_from_u64(7);
    // 3 threads' worth of chunks and a ragged tail, and one below the split.
    for n in [3 * 8192 + 5, 100] {
        for rule in rules() {
            let p0: Tensor<(usize,), f32, Cpu> = dev.sample_normal_like(&(n,));
            let (mut a, mut b) = (p0.clone(), p0.clone());
            let (mut sa, mut sb) = (new_update_state(), new_update_state());
            for step in 0..4 {
                let g = gradient(&p0, dev.sample_normal_like(&(n,)));
                let r = at_step(rule, step);
                let mut g = g;
                let g = &*g.get_or_alloc_mut(&p0).expect("gradient");
                cpu::optimizer_step(&r, &mut a, &mut g.clone(), &mut sa, false).expect("cpu step");
                generic::optimizer_step(&r, &mut b, g, &mut sb).expect("dfdx step");
                let (va, vb) = (a.as_vec(), b.as_vec());
                assert!(va.iter().all(|v| v.is_finite()), "{rule:?}: not finite");
                let diff = va
                    .iter()
                    .zip(&vb)
                    .position(|(x, y)| x.to_bits() != y.to_bits());
                assert_eq!(
                    diff, None,
                    "{rule:?}, n {n}, step {step}: first differing element"
                );
                assert_ne!(va, p0.as_vec(), "{rule:?}: the step changed nothing");
            }
        }
    }
}

#[test]
fn f64_steps_match_dfdx_kernels() {
    let dev = Cpu::seed_from_u64(8);
    for rule in rules() {
        let p0: Tensor<(usize,), f64, Cpu> = dev.sample_normal_like(&(20_000,));
        let (mut a, mut b) = (p0.clone(), p0.clone());
        let (mut sa, mut sb) = (new_update_state(), new_update_state());
        for step in 0..3 {
            let g = gradient(&p0, dev.sample_normal_like(&(20_000,)));
            let r = at_step(rule, step);
            let mut g = g;
            let g = &*g.get_or_alloc_mut(&p0).expect("gradient");
            // Zeroing as it reads: the same step, and the gradient left zero.
            let mut gz = g.clone();
            cpu::optimizer_step(&r, &mut a, &mut gz, &mut sa, true).expect("cpu step");
            assert!(
                gz.iter().all(|&v| v == 0.0),
                "{rule:?}: gradient not zeroed"
            );
            generic::optimizer_step(&r, &mut b, g, &mut sb).expect("dfdx step");
            assert_eq!(a.as_vec(), b.as_vec(), "{rule:?}, step {step}");
        }
    }
}

type Net = (Linear<700, 30>, ReLU, Linear<30, 4>);

/// dfdx's optimizer that `AnyOptimizer` of `kind` is documented to be.
fn dfdx_twin(
    m: &<Net as BuildOnDevice<Cpu, f32>>::Built,
    kind: OptimizerKind,
) -> Box<dyn Optimizer<<Net as BuildOnDevice<Cpu, f32>>::Built, Cpu, f32>> {
    let cfg = OptimizerConfig::new(kind);
    let lr = cfg.lr;
    let sgd = |momentum| SgdConfig {
        lr,
        momentum,
        weight_decay: None,
    };
    let adam = |weight_decay| AdamConfig {
        lr,
        betas: [0.9, 0.999],
        eps: 1e-7,
        weight_decay,
    };
    match kind {
        OptimizerKind::Sgd => Box::new(Sgd::new(m, sgd(None))),
        OptimizerKind::Momentum => Box::new(Sgd::new(m, sgd(Some(Momentum::Classic(0.9))))),
        OptimizerKind::Nesterov => Box::new(Sgd::new(m, sgd(Some(Momentum::Nesterov(0.9))))),
        OptimizerKind::RMSprop => Box::new(RMSprop::new(
            m,
            RMSpropConfig {
                lr,
                alpha: 0.9,
                eps: 1e-7,
                momentum: None,
                centered: false,
                weight_decay: None,
            },
        )),
        OptimizerKind::Adam => Box::new(Adam::new(m, adam(None))),
        OptimizerKind::AdamW => Box::new(Adam::new(
            m,
            adam(Some(WeightDecay::Decoupled(cfg.weight_decay))),
        )),
    }
}

#[test]
fn any_optimizer_trains_a_model_as_dfdx_does() {
    for (kind, _) in OptimizerKind::ALL {
        let dev = Cpu::seed_from_u64(3);
        let mut ours = dev.build_module::<Net, f32>();
        // A clone shares the tensors' ids, so one set of gradients serves both.
        let mut theirs = ours.clone();
        let mut opt = AnyOptimizer::new(&ours, OptimizerConfig::new(kind)).unwrap();
        let mut twin = dfdx_twin(&theirs, kind);
        let start = ours.0.weight.as_vec();
        for step in 0..5 {
            let x: Tensor<Rank2<16, 700>, f32, Cpu> = dev.sample_normal();
            let mut grads = ours.forward(x.leaky_trace()).square().mean().backward();
            twin.update(&mut theirs, &grads).unwrap();
            // Each of AnyOptimizer's entry points.
            match step % 3 {
                0 => opt.step(&mut ours, &mut grads).unwrap(),
                1 => opt.update(&mut ours, &grads).unwrap(),
                _ => {
                    opt.step_and_zero_grads(&mut ours, &mut grads).unwrap();
                    let w = grads.get(&ours.0.weight).as_vec();
                    let b = grads.get(&ours.2.bias).as_vec();
                    assert!(w.iter().chain(&b).all(|&v| v == 0.0), "{kind}: not zeroed");
                }
            }
            assert_eq!(
                ours.0.weight.as_vec(),
                theirs.0.weight.as_vec(),
                "{kind}, step {step}"
            );
            assert_eq!(
                ours.0.bias.as_vec(),
                theirs.0.bias.as_vec(),
                "{kind}, step {step}"
            );
            assert_eq!(
                ours.2.weight.as_vec(),
                theirs.2.weight.as_vec(),
                "{kind}, step {step}"
            );
        }
        assert_ne!(ours.0.weight.as_vec(), start, "{kind}: nothing trained");
        assert_eq!(opt.steps(), 5);
    }
}
