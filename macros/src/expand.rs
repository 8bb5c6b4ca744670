//! Code generation from a checked [`Plan`]. Generated code names everything by absolute
//! path and its generics `__E`, `__D`, `__B`, `__T`, so it works whatever the user imported
//! or named their constants.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;

use crate::forward::{act_step, act_unit, cast, input_layer, steps};
use crate::parse::Decl;
use crate::plan::{Act, ConstCheck, Op, Plan};
use crate::shape::{Shape, Size};

pub fn dfdx() -> TokenStream {
    quote!(::typenet::__private::dfdx)
}

/// A struct of layers: the network's module, or a `Residual`'s inner layers.
struct Struct {
    name: Ident,
    doc: String,
    plan_fields: Vec<(Ident, TokenStream, FieldInit)>,
}

enum FieldInit {
    /// Has tensors: visited by `TensorCollection`.
    Visit,
    /// Built from this expression.
    Value(TokenStream),
}

pub struct Expander<'a> {
    decl: &'a Decl,
    structs: Vec<Struct>,
}

/// Total and trainable parameters of one layer.
fn params(op: &Op) -> (Size, Size) {
    let zero = Size::lit(0);
    match op {
        Op::Conv {
            cin,
            filters,
            k,
            bias,
            ..
        } => {
            let w = k.mul(k).mul(cin).mul(filters);
            let n = if *bias { w.add(filters) } else { w };
            (n.clone(), n)
        }
        Op::Dense { inp, units, bias } => {
            let w = inp.mul(units);
            let n = if *bias { w.add(units) } else { w };
            (n.clone(), n)
        }
        Op::BatchNorm2D(c) | Op::BatchNorm1D(c) => (c.mul(&Size::lit(4)), c.mul(&Size::lit(2))),
        Op::LayerNorm(n) => (n.mul(&Size::lit(2)), n.mul(&Size::lit(2))),
        Op::Residual(plan) => plan
            .layers
            .iter()
            .map(|l| params(&l.op))
            .fold((zero.clone(), zero), |(a, b), (c, d)| {
                (a.add(&c), b.add(&d))
            }),
        Op::Nested(path) => {
            let span = syn::spanned::Spanned::span(path);
            let p = quote_spanned!(span=> <#path as ::typenet::NetworkSpec>::PARAMS);
            let t = quote_spanned!(span=> <#path as ::typenet::NetworkSpec>::TRAINABLE_PARAMS);
            (
                Size::symbolic(p, String::new()),
                Size::symbolic(t, String::new()),
            )
        }
        _ => (zero.clone(), zero),
    }
}

pub fn total_params(plan: &Plan) -> (Size, Size) {
    plan.layers
        .iter()
        .map(|l| params(&l.op))
        .fold((Size::lit(0), Size::lit(0)), |(a, b), (c, d)| {
            (a.add(&c), b.add(&d))
        })
}

/// Summary rows of a layer list, inner `Residual` layers prefixed by its field name.
fn rows(plan: &Plan, prefix: &str) -> Vec<TokenStream> {
    let mut out = Vec::new();
    for l in &plan.layers {
        let name = format!("{prefix}{}", l.field);
        if let Op::Residual(inner) = &l.op {
            out.extend(rows(inner, &format!("{name}.")));
        }
        let (p, t) = match &l.op {
            // The inner layers have their own rows; this one is the addition.
            Op::Residual(_) => (Size::lit(0), Size::lit(0)),
            op => params(op),
        };
        let label = format!("{name} ({})", l.kind);
        let kind = &l.kind;
        let dims = l.output.dims_slice();
        let (p, t) = (p.expr, t.expr);
        out.push(quote! {
            ::typenet::SummaryRow {
                layer: ::std::string::String::from(#label),
                kind: ::std::string::String::from(#kind),
                output_shape: ::std::vec::Vec::from(#dims as &[usize]),
                params: #p,
                trainable: #t,
            }
        });
    }
    out
}

/// Nests fields into tuples of at most 6 (dfdx's `ModuleFields` limit).
fn tuple_tree(items: Vec<(TokenStream, TokenStream)>) -> (TokenStream, TokenStream) {
    if items.len() <= 6 {
        let (a, b): (Vec<_>, Vec<_>) = items.into_iter().unzip();
        return (quote!((#(#a,)*)), quote!((#(#b,)*)));
    }
    let mut groups = Vec::new();
    let mut it = items.into_iter().peekable();
    while it.peek().is_some() {
        let chunk: Vec<_> = it.by_ref().take(6).collect();
        groups.push(tuple_tree(chunk));
    }
    tuple_tree(groups)
}

impl<'a> Expander<'a> {
    pub fn new(decl: &'a Decl) -> Self {
        Expander {
            decl,
            structs: Vec::new(),
        }
    }

    /// Field declarations of a layer list; pushes `Residual` inner structs.
    fn fields(&mut self, plan: &Plan, struct_name: &Ident) -> Vec<(Ident, TokenStream, FieldInit)> {
        let dfdx = dfdx();
        let mut out = Vec::new();
        for l in &plan.layers {
            let span = l.span;
            let (ty, init) = match &l.op {
                Op::Conv {
                    cin,
                    filters,
                    k,
                    s,
                    p,
                    d,
                    bias,
                    ..
                } => {
                    let (c, f, k, s, p, d) =
                        (cin.arg(), filters.arg(), k.arg(), s.arg(), p.arg(), d.arg());
                    (
                        quote_spanned!(span=> ::typenet::layers::Conv2D<#c, #f, #k, #s, #p, #d, #bias, __E, __D>),
                        FieldInit::Visit,
                    )
                }
                Op::Pool { max, k, s, p } => {
                    let (k, s, p) = (k.arg(), s.arg(), p.arg());
                    let t = if *max {
                        quote!(MaxPool2D)
                    } else {
                        quote!(AvgPool2D)
                    };
                    (
                        quote_spanned!(span=> ::typenet::layers::#t<#k, #s, #p>),
                        FieldInit::Value(quote!(::core::default::Default::default())),
                    )
                }
                Op::GlobalPool { max } => {
                    let t = if *max {
                        quote!(MaxPoolGlobal)
                    } else {
                        quote!(AvgPoolGlobal)
                    };
                    (
                        quote!(#dfdx::nn::modules::#t),
                        FieldInit::Value(quote!(#dfdx::nn::modules::#t)),
                    )
                }
                Op::Flatten => (
                    quote!(::typenet::layers::Flatten),
                    FieldInit::Value(quote!(::typenet::layers::Flatten)),
                ),
                Op::Dense { inp, units, bias } => {
                    let (i, o) = (inp.arg(), units.arg());
                    let t = if *bias {
                        quote!(Linear)
                    } else {
                        quote!(UnbiasedLinear)
                    };
                    (
                        quote_spanned!(span=> #dfdx::nn::modules::#t<#i, #o, __E, __D>),
                        FieldInit::Visit,
                    )
                }
                Op::Act { act, .. } => {
                    let u = act_unit(*act);
                    (u.clone(), FieldInit::Value(u))
                }
                Op::LeakyReLU { alpha } => (
                    quote!(#dfdx::nn::modules::LeakyReLU<__E>),
                    FieldInit::Value(quote!(::typenet::__private::leaky_relu(#alpha))),
                ),
                Op::Dropout { rate } => (
                    quote!(#dfdx::nn::modules::Dropout),
                    FieldInit::Value(quote!(#dfdx::nn::modules::Dropout { p: (#rate) as f32 })),
                ),
                Op::BatchNorm2D(c) => {
                    let c = c.arg();
                    (
                        quote_spanned!(span=> #dfdx::nn::modules::BatchNorm2D<#c, __E, __D>),
                        FieldInit::Visit,
                    )
                }
                Op::BatchNorm1D(c) => {
                    let c = c.arg();
                    (
                        quote_spanned!(span=> #dfdx::nn::modules::BatchNorm1D<#c, __E, __D>),
                        FieldInit::Visit,
                    )
                }
                Op::LayerNorm(n) => {
                    let n = n.arg();
                    (
                        quote_spanned!(span=> #dfdx::nn::modules::LayerNorm1D<#n, __E, __D>),
                        FieldInit::Visit,
                    )
                }
                Op::Residual(inner) => {
                    let idx = l
                        .field
                        .to_string()
                        .rsplit('_')
                        .next()
                        .unwrap_or("0")
                        .to_string();
                    let name = format_ident!(
                        "{}Residual{}",
                        {
                            let s = struct_name.to_string();
                            s.strip_suffix("Module").map(str::to_string).unwrap_or(s)
                        },
                        idx
                    );
                    let fields = self.fields(inner, &name);
                    let doc = format!("The layers inside `{}` of [`{}`].", l.field, self.decl.name);
                    self.structs.push(Struct {
                        name: name.clone(),
                        doc,
                        plan_fields: fields,
                    });
                    (quote!(#name<__E, __D>), FieldInit::Visit)
                }
                Op::Nested(path) => (
                    quote_spanned!(span=> <#path as ::typenet::__private::ModuleOf<__E, __D>>::Module),
                    FieldInit::Visit,
                ),
            };
            out.push((l.field.clone(), ty, init));
        }
        out
    }

    fn struct_items(&self, s: &Struct) -> TokenStream {
        let dfdx = dfdx();
        let name = &s.name;
        let vis = &self.decl.vis;
        let doc = &s.doc;
        let decls = s.plan_fields.iter().map(|(f, ty, _)| quote!(pub #f: #ty));
        let names = s.plan_fields.iter().map(|(f, _, _)| f.to_string());
        let visited: Vec<(TokenStream, TokenStream)> = s
            .plan_fields
            .iter()
            .filter(|(_, _, i)| matches!(i, FieldInit::Visit))
            .map(|(f, _, _)| {
                let n = f.to_string();
                (
                    quote!(Self::module(#n, |s| &s.#f, |s| &mut s.#f)),
                    quote!(#f),
                )
            })
            .collect();
        let (fields, pat) = tuple_tree(visited);
        let inits = s.plan_fields.iter().map(|(f, _, i)| match i {
            FieldInit::Visit => quote!(#f),
            FieldInit::Value(v) => quote!(#f: #v),
        });
        quote! {
            #[doc = #doc]
            #[derive(Clone)]
            #[allow(dead_code)]
            #vis struct #name<__E: #dfdx::shapes::Dtype = f32, __D: #dfdx::tensor::Storage<__E> = #dfdx::tensor::AutoDevice> {
                #(#decls,)*
                #[doc(hidden)]
                pub __marker: ::core::marker::PhantomData<(__E, __D)>,
            }

            impl<__E: #dfdx::shapes::Dtype, __D: #dfdx::tensor::Storage<__E>> ::core::fmt::Debug for #name<__E, __D> {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.debug_struct(stringify!(#name))#(.field(#names, &"..."))*.finish()
                }
            }

            impl<__E: ::typenet::Element, __D: ::typenet::Backend<__E>> #dfdx::nn::TensorCollection<__E, __D> for #name<__E, __D> {
                type To<__E2: #dfdx::shapes::Dtype, __D2: #dfdx::tensor_ops::Device<__E2>> = #name<__E2, __D2>;
                fn iter_tensors<__V: #dfdx::nn::ModuleVisitor<Self, __E, __D>>(
                    visitor: &mut __V,
                ) -> ::core::result::Result<::core::option::Option<Self::To<__V::E2, __V::D2>>, __V::Err> {
                    visitor.visit_fields(#fields, |#pat| #name { #(#inits,)* __marker: ::core::marker::PhantomData })
                }
            }
        }
    }

    pub fn expand(
        mut self,
        input: &Shape,
        plan: &Plan,
        output: &Shape,
        checks: &[ConstCheck],
    ) -> TokenStream {
        let dfdx = dfdx();
        let decl = self.decl;
        let (attrs, vis, name) = (&decl.attrs, &decl.vis, &decl.name);
        let module = format_ident!("{}Module", name);
        let fields = self.fields(plan, &module);
        let main = Struct {
            name: module.clone(),
            doc: format!("The built [`{name}`] network: one field per layer. Build it with `dev.build_module::<{name}, f32>()`."),
            plan_fields: fields,
        };
        let mut items = self.struct_items(&main);
        for s in &self.structs {
            items.extend(self.struct_items(s));
        }

        let ends_softmax = plan.layers.last().is_some_and(|l| {
            matches!(
                l.op,
                Op::Act {
                    act: Act::Softmax,
                    ..
                }
            ) || l.act == Some(Act::Softmax)
        });
        let acc = quote!(self);
        let mut logits = steps(plan, input, &acc, false, ends_softmax, true);
        let mut logits_mut = steps(plan, input, &acc, true, ends_softmax, true);
        // What `fit` runs: like `logits_mut`, but the first Conv2D or Dense skips its
        // input's gradient.
        let mut logits_fit = if input_layer(plan).is_some() {
            Some(steps(plan, input, &acc, true, ends_softmax, false))
        } else {
            None
        };
        if plan.output.same_as(output) != Some(true) {
            let span = decl
                .output
                .as_ref()
                .and_then(|o| o.dims.first())
                .map_or(name.span(), syn::spanned::Spanned::span);
            let c = cast(&plan.output, output, span);
            logits.extend(c.clone());
            if let Some(l) = &mut logits_fit {
                l.extend(c.clone());
            }
            logits_mut.extend(c);
        }
        let final_softmax = if ends_softmax {
            act_step(Act::Softmax, Span::call_site())
        } else {
            quote!()
        };

        let (in_s, out_s) = (input.sample_ty(), output.sample_ty());
        let (in_t, out_t) = (input.tensor_ty(), output.tensor_ty());
        let (in_dims, out_dims) = (input.dims_slice(), output.dims_slice());
        let (p, t) = total_params(plan);
        let (p, t) = (p.expr, t.expr);
        let rows = rows(plan, "");
        let name_str = name.to_string();
        let checks = checks.iter().map(|c| {
            let (cond, msg) = (&c.cond, &c.msg);
            quote_spanned!(c.span=> const _: () = ::core::assert!(#cond, #msg);)
        });
        let gens = quote!(<__E: ::typenet::Element, __D: ::typenet::Backend<__E>>);
        let fwd_gens = quote!(<__B: #dfdx::shapes::Dim, __T: #dfdx::tensor::Tape<__E, __D>>);
        let res = quote!(::core::result::Result);
        let b1 = quote!(#dfdx::shapes::Const<1>);
        let (logits_fit_fn, logits_fit_call) = match &logits_fit {
            Some(body) => (
                quote! {
                    #[allow(clippy::let_and_return, unused_variables)]
                    fn __logits_fit #fwd_gens (&mut self, x: #in_t) -> #res<#out_t, __D::Err> {
                        #body
                        Ok(x)
                    }
                },
                format_ident!("__logits_fit"),
            ),
            None => (quote!(), format_ident!("__logits_mut")),
        };

        quote! {
            #(#attrs)*
            #[derive(Debug, Clone, Copy, Default)]
            #vis struct #name;

            #(#checks)*

            #[allow(dead_code)]
            impl #name {
                /// One sample's input shape, channels first.
                pub const INPUT_SHAPE: &'static [usize] = #in_dims;
                /// One sample's output shape.
                pub const OUTPUT_SHAPE: &'static [usize] = #out_dims;
                /// All parameters (Keras's "Total params").
                pub const PARAMS: usize = #p;
                /// Trainable parameters (Keras's "Trainable params").
                pub const TRAINABLE_PARAMS: usize = #t;
                /// A Keras-style table of the layers.
                pub fn summary() -> ::typenet::Summary {
                    ::typenet::Summary {
                        name: ::std::string::String::from(#name_str),
                        input_shape: ::std::vec::Vec::from(Self::INPUT_SHAPE),
                        rows: ::std::vec![#(#rows),*],
                    }
                }
            }

            impl ::typenet::NetworkSpec for #name {
                const NAME: &'static str = #name_str;
                const INPUT_SHAPE: &'static [usize] = #name::INPUT_SHAPE;
                const OUTPUT_SHAPE: &'static [usize] = #name::OUTPUT_SHAPE;
                const PARAMS: usize = #name::PARAMS;
                const TRAINABLE_PARAMS: usize = #name::TRAINABLE_PARAMS;
                type Input = #in_s;
                type Output = #out_s;
                type Module #gens = #module<__E, __D>;
                fn summary() -> ::typenet::Summary {
                    #name::summary()
                }
            }

            impl<__E: #dfdx::shapes::Dtype, __D: #dfdx::tensor::Storage<__E>> ::typenet::__private::ModuleOf<__E, __D> for #name {
                type Module = #module<__E, __D>;
            }

            impl #gens #dfdx::nn::BuildOnDevice<__D, __E> for #name {
                type Built = #module<__E, __D>;
            }

            #items

            #[allow(dead_code)]
            impl #gens #module<__E, __D> {
                #[allow(clippy::let_and_return, unused_variables)]
                fn __logits #fwd_gens (&self, x: #in_t) -> #res<#out_t, __D::Err> {
                    #logits
                    Ok(x)
                }
                #[allow(clippy::let_and_return, unused_variables)]
                fn __logits_mut #fwd_gens (&mut self, x: #in_t) -> #res<#out_t, __D::Err> {
                    #logits_mut
                    Ok(x)
                }
                #logits_fit_fn
                fn __forward #fwd_gens (&self, x: #in_t) -> #res<#out_t, __D::Err> {
                    let x = self.__logits(x)?;
                    #final_softmax
                    Ok(x)
                }
                fn __forward_mut #fwd_gens (&mut self, x: #in_t) -> #res<#out_t, __D::Err> {
                    let x = self.__logits_mut(x)?;
                    #final_softmax
                    Ok(x)
                }
            }

            impl<__B: #dfdx::shapes::Dim, __E: ::typenet::Element, __D: ::typenet::Backend<__E>, __T: #dfdx::tensor::Tape<__E, __D>>
                #dfdx::nn::Module<#in_t> for #module<__E, __D>
            {
                type Output = #out_t;
                type Error = __D::Err;
                fn try_forward(&self, x: #in_t) -> #res<#out_t, __D::Err> {
                    self.__forward(x)
                }
            }

            impl<__B: #dfdx::shapes::Dim, __E: ::typenet::Element, __D: ::typenet::Backend<__E>, __T: #dfdx::tensor::Tape<__E, __D>>
                #dfdx::nn::ModuleMut<#in_t> for #module<__E, __D>
            {
                type Output = #out_t;
                type Error = __D::Err;
                fn try_forward_mut(&mut self, x: #in_t) -> #res<#out_t, __D::Err> {
                    self.__forward_mut(x)
                }
            }

            impl<__E: ::typenet::Element, __D: ::typenet::Backend<__E>, __T: #dfdx::tensor::Tape<__E, __D>>
                #dfdx::nn::Module<#dfdx::tensor::Tensor<#in_s, __E, __D, __T>> for #module<__E, __D>
            {
                type Output = #dfdx::tensor::Tensor<#out_s, __E, __D, __T>;
                type Error = __D::Err;
                fn try_forward(&self, x: #dfdx::tensor::Tensor<#in_s, __E, __D, __T>) -> #res<Self::Output, __D::Err> {
                    let x = #dfdx::tensor_ops::ReshapeTo::try_reshape_like(x, &<#in_s as ::typenet::SampleShape>::batched(<#b1>::default()))?;
                    let y = self.__forward::<#b1, __T>(x)?;
                    #dfdx::tensor_ops::ReshapeTo::try_reshape_like(y, &<#out_s as ::core::default::Default>::default())
                }
            }

            impl<__E: ::typenet::Element, __D: ::typenet::Backend<__E>, __T: #dfdx::tensor::Tape<__E, __D>>
                #dfdx::nn::ModuleMut<#dfdx::tensor::Tensor<#in_s, __E, __D, __T>> for #module<__E, __D>
            {
                type Output = #dfdx::tensor::Tensor<#out_s, __E, __D, __T>;
                type Error = __D::Err;
                fn try_forward_mut(&mut self, x: #dfdx::tensor::Tensor<#in_s, __E, __D, __T>) -> #res<Self::Output, __D::Err> {
                    let x = #dfdx::tensor_ops::ReshapeTo::try_reshape_like(x, &<#in_s as ::typenet::SampleShape>::batched(<#b1>::default()))?;
                    let y = self.__forward_mut::<#b1, __T>(x)?;
                    #dfdx::tensor_ops::ReshapeTo::try_reshape_like(y, &<#out_s as ::core::default::Default>::default())
                }
            }

            impl #gens ::typenet::Network<__E, __D> for #module<__E, __D> {
                type InputShape = #in_s;
                type OutputShape = #out_s;
                const ENDS_IN_SOFTMAX: bool = #ends_softmax;
                fn try_forward_logits #fwd_gens (&self, x: ::typenet::Batch<#in_s, __B, __E, __D, __T>) -> #res<::typenet::Batch<#out_s, __B, __E, __D, __T>, __D::Err> {
                    self.__logits(x)
                }
                fn try_forward_logits_mut #fwd_gens (&mut self, x: ::typenet::Batch<#in_s, __B, __E, __D, __T>) -> #res<::typenet::Batch<#out_s, __B, __E, __D, __T>, __D::Err> {
                    self.#logits_fit_call(x)
                }
                fn try_forward_batch #fwd_gens (&self, x: ::typenet::Batch<#in_s, __B, __E, __D, __T>) -> #res<::typenet::Batch<#out_s, __B, __E, __D, __T>, __D::Err> {
                    self.__forward(x)
                }
                fn try_forward_batch_mut #fwd_gens (&mut self, x: ::typenet::Batch<#in_s, __B, __E, __D, __T>) -> #res<::typenet::Batch<#out_s, __B, __E, __D, __T>, __D::Err> {
                    self.__forward_mut(x)
                }
            }
        }
    }
}

/// What a declaration with errors expands to: the errors, and the names it declares (with
/// empty values), so code using them does not add errors of its own.
pub fn stub(decl: &Decl, errors: TokenStream) -> TokenStream {
    let (attrs, vis, name) = (&decl.attrs, &decl.vis, &decl.name);
    let module = format_ident!("{}Module", name);
    let dfdx = dfdx();
    let name_str = name.to_string();
    quote! {
        #errors
        #(#attrs)*
        #[derive(Debug, Clone, Copy, Default)]
        #vis struct #name;

        #[allow(dead_code)]
        impl #name {
            pub const INPUT_SHAPE: &'static [usize] = &[];
            pub const OUTPUT_SHAPE: &'static [usize] = &[];
            pub const PARAMS: usize = 0;
            pub const TRAINABLE_PARAMS: usize = 0;
            pub fn summary() -> ::typenet::Summary {
                ::typenet::Summary { name: ::std::string::String::from(#name_str), input_shape: ::std::vec::Vec::new(), rows: ::std::vec::Vec::new() }
            }
        }

        #[allow(dead_code)]
        #vis struct #module<__E: #dfdx::shapes::Dtype = f32, __D: #dfdx::tensor::Storage<__E> = #dfdx::tensor::AutoDevice>(::core::marker::PhantomData<(__E, __D)>);
    }
}
