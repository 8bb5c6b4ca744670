//! [`ToOnnx`] for every layer type `network!` uses. Adding a layer's export is one impl
//! here (or beside the layer).

use dfdx::nn::modules::{
    AvgPoolGlobal, BatchNorm1D, BatchNorm2D, Dropout, FastGeLU, LayerNorm1D, LeakyReLU, Linear,
    MaxPoolGlobal, ReLU, Sigmoid, Softmax, Tanh, UnbiasedLinear,
};
use dfdx::prelude::*;

use super::{Attr, OnnxGraph, ToOnnx};
use crate::backend::Element;
use crate::interop::InteropError;
use crate::layers::{AvgPool2D, Conv1D, Conv2D, Flatten, MaxPool2D};

type R = Result<(), InteropError>;

fn values<S: Shape, E: Element, D: Device<E>>(t: &Tensor<S, E, D>) -> Vec<f32> {
    t.as_vec()
        .iter()
        .map(|x| x.to_f32().unwrap_or(f32::NAN))
        .collect()
}

fn weight<S: Shape, E: Element, D: Device<E>>(
    g: &mut OnnxGraph,
    stem: &str,
    t: &Tensor<S, E, D>,
) -> String {
    g.weight(stem, t.shape().concrete().as_ref(), values(t))
}

fn ints(v: &[usize]) -> Attr {
    Attr::Ints(v.iter().map(|&x| x as i64).collect())
}

/// A convolution over `rank` spatial axes.
fn conv(
    g: &mut OnnxGraph,
    w: String,
    b: Option<String>,
    rank: usize,
    (k, s, p, dil): (usize, usize, usize, usize),
) {
    let mut inputs = vec![w];
    inputs.extend(b);
    g.node(
        "Conv",
        &inputs,
        &[
            ("kernel_shape", ints(&vec![k; rank])),
            ("strides", ints(&vec![s; rank])),
            ("pads", ints(&vec![p; 2 * rank])),
            ("dilations", ints(&vec![dil; rank])),
        ],
    );
}

impl<
        const I: usize,
        const O: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const DIL: usize,
        const BIAS: bool,
        E: Element,
        D: Device<E>,
    > ToOnnx for Conv2D<I, O, K, S, P, DIL, BIAS, E, D>
{
    fn to_onnx(&self, g: &mut OnnxGraph) -> R {
        let w = weight(g, "conv_w", &self.weight);
        let b = self.bias.as_ref().map(|b| weight(g, "conv_b", b));
        conv(g, w, b, 2, (K, S, P, DIL));
        Ok(())
    }
}

impl<
        const I: usize,
        const O: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const DIL: usize,
        const BIAS: bool,
        E: Element,
        D: Device<E>,
    > ToOnnx for Conv1D<I, O, K, S, P, DIL, BIAS, E, D>
{
    fn to_onnx(&self, g: &mut OnnxGraph) -> R {
        let w = weight(g, "conv_w", &self.weight);
        let b = self.bias.as_ref().map(|b| weight(g, "conv_b", b));
        conv(g, w, b, 1, (K, S, P, DIL));
        Ok(())
    }
}

fn pool(
    g: &mut OnnxGraph,
    op: &str,
    (k, s, p): (usize, usize, usize),
    extra: Option<(&'static str, Attr)>,
) {
    let mut attrs = vec![
        ("kernel_shape", ints(&[k, k])),
        ("strides", ints(&[s, s])),
        ("pads", ints(&[p; 4])),
    ];
    attrs.extend(extra);
    g.node(op, &[], &attrs);
}

impl<const K: usize, const S: usize, const P: usize> ToOnnx for MaxPool2D<K, S, P> {
    fn to_onnx(&self, g: &mut OnnxGraph) -> R {
        pool(g, "MaxPool", (K, S, P), None);
        Ok(())
    }
}

/// Padding counts as zeros, as typenet's `AvgPool2D` does.
impl<const K: usize, const S: usize, const P: usize> ToOnnx for AvgPool2D<K, S, P> {
    fn to_onnx(&self, g: &mut OnnxGraph) -> R {
        pool(
            g,
            "AveragePool",
            (K, S, P),
            Some(("count_include_pad", Attr::Int(1))),
        );
        Ok(())
    }
}

/// `(N, C, H, W)` to `(N, C)`.
fn global(g: &mut OnnxGraph, op: &str) -> R {
    g.node(op, &[], &[]);
    g.node("Flatten", &[], &[("axis", Attr::Int(1))]);
    Ok(())
}

impl ToOnnx for AvgPoolGlobal {
    fn to_onnx(&self, g: &mut OnnxGraph) -> R {
        global(g, "GlobalAveragePool")
    }
}

impl ToOnnx for MaxPoolGlobal {
    fn to_onnx(&self, g: &mut OnnxGraph) -> R {
        global(g, "GlobalMaxPool")
    }
}

/// Channels, rows, columns: the order typenet flattens in.
impl ToOnnx for Flatten {
    fn to_onnx(&self, g: &mut OnnxGraph) -> R {
        g.node("Flatten", &[], &[("axis", Attr::Int(1))]);
        Ok(())
    }
}

/// `x W^T + b` with `W` as stored (`[out, in]`).
impl<const I: usize, const O: usize, E: Element, D: Device<E>> ToOnnx for Linear<I, O, E, D> {
    fn to_onnx(&self, g: &mut OnnxGraph) -> R {
        let w = weight(g, "dense_w", &self.weight);
        let b = weight(g, "dense_b", &self.bias);
        g.node("Gemm", &[w, b], &[("transB", Attr::Int(1))]);
        Ok(())
    }
}

impl<const I: usize, const O: usize, E: Element, D: Device<E>> ToOnnx
    for UnbiasedLinear<I, O, E, D>
{
    fn to_onnx(&self, g: &mut OnnxGraph) -> R {
        let w = weight(g, "dense_w", &self.weight);
        g.node("Gemm", &[w], &[("transB", Attr::Int(1))]);
        Ok(())
    }
}

macro_rules! unary {
    ($($t:ty => $op:literal),* $(,)?) => {$(
        impl ToOnnx for $t {
            fn to_onnx(&self, g: &mut OnnxGraph) -> R {
                g.node($op, &[], &[]);
                Ok(())
            }
        }
    )*};
}
unary!(ReLU => "Relu", Sigmoid => "Sigmoid", Tanh => "Tanh");

/// Over the last axis, as typenet's.
impl ToOnnx for Softmax {
    fn to_onnx(&self, g: &mut OnnxGraph) -> R {
        g.node("Softmax", &[], &[("axis", Attr::Int(-1))]);
        Ok(())
    }
}

impl<E: Element> ToOnnx for LeakyReLU<E> {
    fn to_onnx(&self, g: &mut OnnxGraph) -> R {
        let alpha = self.0.to_f32().unwrap_or(0.01);
        g.node("LeakyRelu", &[], &[("alpha", Attr::Float(alpha))]);
        Ok(())
    }
}

/// typenet's GELU is dfdx's `FastGeLU`, the tanh form
/// `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`, written out in opset-17 nodes.
impl ToOnnx for FastGeLU {
    fn to_onnx(&self, g: &mut OnnxGraph) -> R {
        let x = g.current();
        let c = |g: &mut OnnxGraph, v: f32| g.weight("gelu_c", &[], vec![v]);
        let (three, kappa, beta, one, half) = (
            c(g, 3.0),
            c(g, 0.044715),
            c(g, (2.0f64 / std::f64::consts::PI).sqrt() as f32),
            c(g, 1.0),
            c(g, 0.5),
        );
        let x3 = g.node_of("Pow", &[x.clone(), three], &[]);
        let k = g.node_of("Mul", &[x3, kappa], &[]);
        let inner = g.node_of("Add", &[x.clone(), k], &[]);
        let scaled = g.node_of("Mul", &[inner, beta], &[]);
        let t = g.node_of("Tanh", &[scaled], &[]);
        let t1 = g.node_of("Add", &[t, one], &[]);
        let h = g.node_of("Mul", &[x, half], &[]);
        let y = g.node_of("Mul", &[h, t1], &[]);
        g.set_current(y);
        Ok(())
    }
}

/// Identity at inference.
impl ToOnnx for Dropout {
    fn to_onnx(&self, _: &mut OnnxGraph) -> R {
        Ok(())
    }
}

fn batch_norm<E: Element, D: Device<E>, const C: usize>(
    g: &mut OnnxGraph,
    (scale, bias, mean, var): (
        &Tensor<Rank1<C>, E, D>,
        &Tensor<Rank1<C>, E, D>,
        &Tensor<Rank1<C>, E, D>,
        &Tensor<Rank1<C>, E, D>,
    ),
    epsilon: f64,
) -> R {
    let w = [
        weight(g, "bn_scale", scale),
        weight(g, "bn_bias", bias),
        weight(g, "bn_mean", mean),
        weight(g, "bn_var", var),
    ];
    g.node(
        "BatchNormalization",
        &w,
        &[("epsilon", Attr::Float(epsilon as f32))],
    );
    Ok(())
}

/// Inference mode: the running statistics.
impl<const C: usize, E: Element, D: Device<E>> ToOnnx for BatchNorm2D<C, E, D> {
    fn to_onnx(&self, g: &mut OnnxGraph) -> R {
        let t = (
            &self.scale,
            &self.bias,
            &self.running_mean,
            &self.running_var,
        );
        batch_norm(g, t, self.epsilon)
    }
}

/// Inference mode on `(N, C)`.
impl<const C: usize, E: Element, D: Device<E>> ToOnnx for BatchNorm1D<C, E, D> {
    fn to_onnx(&self, g: &mut OnnxGraph) -> R {
        let t = (
            &self.scale,
            &self.bias,
            &self.running_mean,
            &self.running_var,
        );
        batch_norm(g, t, self.epsilon)
    }
}

/// Over the last axis.
impl<const M: usize, E: Element, D: Device<E>> ToOnnx for LayerNorm1D<M, E, D> {
    fn to_onnx(&self, g: &mut OnnxGraph) -> R {
        let gamma = weight(g, "ln_gamma", &self.gamma);
        let beta = weight(g, "ln_beta", &self.beta);
        g.node(
            "LayerNormalization",
            &[gamma, beta],
            &[
                ("axis", Attr::Int(-1)),
                ("epsilon", Attr::Float(self.epsilon as f32)),
            ],
        );
        Ok(())
    }
}
