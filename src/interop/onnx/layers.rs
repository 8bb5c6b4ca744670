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
use crate::layers::{
    AvgPool1D, AvgPool2D, Conv1D, Conv2D, Conv2DTranspose, Embedding, Flatten, GlobalAvgPool1D,
    GlobalMaxPool1D, MaxPool1D, MaxPool2D, UpSampling2D,
};

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

/// `(C_in, C_out, K, K)` weights, PyTorch's and ONNX's layout; dilation 1.
impl<
        const I: usize,
        const O: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const OP: usize,
        const BIAS: bool,
        E: Element,
        D: Device<E>,
    > ToOnnx for Conv2DTranspose<I, O, K, S, P, OP, BIAS, E, D>
{
    fn to_onnx(&self, g: &mut OnnxGraph) -> R {
        let mut inputs = vec![weight(g, "deconv_w", &self.weight)];
        inputs.extend(self.bias.as_ref().map(|b| weight(g, "deconv_b", b)));
        g.node(
            "ConvTranspose",
            &inputs,
            &[
                ("kernel_shape", ints(&[K, K])),
                ("strides", ints(&[S, S])),
                ("pads", ints(&[P; 4])),
                ("output_padding", ints(&[OP, OP])),
                ("dilations", ints(&[1, 1])),
            ],
        );
        Ok(())
    }
}

/// A max (padding never wins) or average (padding counted as zeros) pool over `rank`
/// spatial axes.
fn pool(g: &mut OnnxGraph, max: bool, rank: usize, (k, s, p): (usize, usize, usize)) -> R {
    let mut attrs = vec![
        ("kernel_shape", ints(&vec![k; rank])),
        ("strides", ints(&vec![s; rank])),
        ("pads", ints(&vec![p; 2 * rank])),
    ];
    if max {
        g.node("MaxPool", &[], &attrs);
    } else {
        attrs.push(("count_include_pad", Attr::Int(1)));
        g.node("AveragePool", &[], &attrs);
    }
    Ok(())
}

macro_rules! pools {
    ($($t:ident => $max:literal, $rank:literal);* $(;)?) => {$(
        impl<const K: usize, const S: usize, const P: usize> ToOnnx for $t<K, S, P> {
            fn to_onnx(&self, g: &mut OnnxGraph) -> R {
                pool(g, $max, $rank, (K, S, P))
            }
        }
    )*};
}
pools!(MaxPool2D => true, 2; AvgPool2D => false, 2; MaxPool1D => true, 1; AvgPool1D => false, 1);

/// Nearest neighbour: output pixel `(i, j)` is input `(i / FH, j / FW)`, rounded down.
impl<const FH: usize, const FW: usize> ToOnnx for UpSampling2D<FH, FW> {
    fn to_onnx(&self, g: &mut OnnxGraph) -> R {
        let scales = g.weight(
            "upsample_scales",
            &[4],
            vec![1.0, 1.0, FH as f32, FW as f32],
        );
        g.node(
            "Resize",
            &[String::new(), scales],
            &[
                ("mode", Attr::Str("nearest")),
                ("coordinate_transformation_mode", Attr::Str("asymmetric")),
                ("nearest_mode", Attr::Str("floor")),
            ],
        );
        Ok(())
    }
}

/// Token ids arrive as floats (typenet carries them in the element type): cast to
/// int64, look up rows, and put the vector dimension first, `(N, L)` to `(N, DIM, L)`.
impl<const VOCAB: usize, const DIM: usize, E: Element, D: Device<E>> ToOnnx
    for Embedding<VOCAB, DIM, E, D>
{
    fn to_onnx(&self, g: &mut OnnxGraph) -> R {
        let table = weight(g, "embedding", &self.weight);
        g.node("Cast", &[], &[("to", Attr::Int(7))]);
        let ids = g.current();
        let rows = g.node_of("Gather", &[table, ids], &[("axis", Attr::Int(0))]);
        g.set_current(rows);
        g.node("Transpose", &[], &[("perm", ints(&[0, 2, 1]))]);
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

/// `(N, C, L)` to `(N, C)`.
impl ToOnnx for GlobalAvgPool1D {
    fn to_onnx(&self, g: &mut OnnxGraph) -> R {
        global(g, "GlobalAveragePool")
    }
}

impl ToOnnx for GlobalMaxPool1D {
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
