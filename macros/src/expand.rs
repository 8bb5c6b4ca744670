//! Code generation from a checked declaration. Generated code names everything by absolute
//! path through `::typenet::__private` and its generics `__E`, `__D`, `__B`, `__T`, so it
//! works whatever the user imported or named their constants.

use std::collections::HashMap;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

use crate::check::Checked;
use crate::forward::steps;
use crate::fuse::fuse;
use crate::layers::activation::final_softmax;
use crate::parse::Decl;
use crate::paths::{dfdx, tn};
use crate::plan::{OnnxStep, Pass, Plan, Role, Structs};

/// A struct of layers: the network's module, or the inner layers of a `Residual`.
struct StructDef {
    name: Ident,
    doc: String,
    fields: Vec<FieldDef>,
}

struct FieldDef {
    ident: Ident,
    ty: TokenStream,
    /// `None`: has tensors, visited by `TensorCollection`.
    init: Option<TokenStream>,
}

struct Expander<'a> {
    decl: &'a Decl,
    /// Inner structs, in the order they were declared.
    structs: Vec<StructDef>,
    /// The struct whose fields are being declared (names the inner ones).
    current: Ident,
    /// Each layer's field type, by its path in the module (`residual_3.conv2d_0`).
    types: HashMap<String, TokenStream>,
    prefix: String,
}

impl Structs for Expander<'_> {
    fn inner_struct(&mut self, plan: &Plan, field: &Ident) -> TokenStream {
        // `residual_3` in `NetModule` -> `NetResidual3`; `branch_1` in it -> `NetResidual3Branch1`.
        let camel: String = field
            .to_string()
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
            })
            .collect();
        let outer = self.current.to_string();
        let stem = outer.strip_suffix("Module").unwrap_or(&outer);
        let name = format_ident!("{stem}{camel}");
        let (saved, prefix) = (self.current.clone(), self.prefix.clone());
        self.current = name.clone();
        self.prefix = format!("{prefix}{field}.");
        let fields = self.fields(plan);
        self.current = saved;
        self.prefix = prefix;
        let doc = format!("The layers inside `{field}` of [`{}`].", self.decl.name);
        self.structs.push(StructDef {
            name: name.clone(),
            doc,
            fields,
        });
        quote!(#name<__E, __D>)
    }
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

impl Expander<'_> {
    fn fields(&mut self, plan: &Plan) -> Vec<FieldDef> {
        let mut out = Vec::new();
        for l in &plan.layers {
            let f = l.layer.field(&l.field, l.span, self);
            let path = format!("{}{}", self.prefix, l.field);
            self.types.insert(path, f.ty.clone());
            out.push(FieldDef {
                ident: l.field.clone(),
                ty: f.ty,
                init: f.init,
            });
        }
        out
    }

    /// Summary rows of a layer list; the layers inside a `Residual` come first, prefixed
    /// by its field name, then its own row (the addition, no parameters).
    fn rows(&self, plan: &Plan, prefix: &str) -> Vec<TokenStream> {
        let (tn, mut out) = (tn(), Vec::new());
        for l in &plan.layers {
            let name = format!("{prefix}{}", l.field);
            let (p, t) = match l.layer.inner() {
                Some(inner) => {
                    out.extend(self.rows(inner, &format!("{name}.")));
                    (quote!(0), quote!(0))
                }
                None => {
                    let ty = &self.types[&name];
                    (
                        quote!(<#ty as #tn::LayerParams>::PARAMS),
                        quote!(<#ty as #tn::LayerParams>::TRAINABLE_PARAMS),
                    )
                }
            };
            let label = format!("{name} ({})", l.kind);
            let kind = &l.kind;
            let dims = l.output.dims_slice();
            out.push(quote! {
                #tn::SummaryRow {
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

    fn struct_items(&self, s: &StructDef) -> TokenStream {
        let (dfdx, tn) = (dfdx(), tn());
        let name = &s.name;
        let vis = &self.decl.vis;
        let doc = &s.doc;
        let decls = s.fields.iter().map(|f| {
            let (i, ty) = (&f.ident, &f.ty);
            quote!(pub #i: #ty)
        });
        let names = s.fields.iter().map(|f| f.ident.to_string());
        let visited: Vec<(TokenStream, TokenStream)> = s
            .fields
            .iter()
            .filter(|f| f.init.is_none())
            .map(|f| {
                let (i, n) = (&f.ident, f.ident.to_string());
                (
                    quote!(Self::module(#n, |s| &s.#i, |s| &mut s.#i)),
                    quote!(#i),
                )
            })
            .collect();
        let (fields, pat) = tuple_tree(visited);
        let inits = s.fields.iter().map(|f| {
            let i = &f.ident;
            match &f.init {
                None => quote!(#i),
                Some(v) => quote!(#i: #v),
            }
        });
        let tys: Vec<&TokenStream> = s.fields.iter().map(|f| &f.ty).collect();
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

            impl<__E: #dfdx::shapes::Dtype, __D: #dfdx::tensor::Storage<__E>> #tn::LayerParams for #name<__E, __D> {
                const PARAMS: usize = 0 #(+ <#tys as #tn::LayerParams>::PARAMS)*;
                const TRAINABLE_PARAMS: usize = 0 #(+ <#tys as #tn::LayerParams>::TRAINABLE_PARAMS)*;
            }

            impl<__E: #tn::Element, __D: #tn::Backend<__E>> #dfdx::nn::TensorCollection<__E, __D> for #name<__E, __D> {
                type To<__E2: #dfdx::shapes::Dtype, __D2: #dfdx::tensor_ops::Device<__E2>> = #name<__E2, __D2>;
                fn iter_tensors<__V: #dfdx::nn::ModuleVisitor<Self, __E, __D>>(
                    visitor: &mut __V,
                ) -> ::core::result::Result<::core::option::Option<Self::To<__V::E2, __V::D2>>, __V::Err> {
                    visitor.visit_fields(#fields, |#pat| #name { #(#inits,)* __marker: ::core::marker::PhantomData })
                }
            }
        }
    }
}

/// The ONNX export statements of a layer list whose struct `acc` reaches: each layer's
/// `Layer::onnx` in order, unfused, then its `activation = ...`.
fn onnx_steps(plan: &Plan, acc: &TokenStream, prefix: &str) -> TokenStream {
    let mut out = TokenStream::new();
    for l in &plan.layers {
        let label = format!("{prefix}{} ({})", l.field, l.kind);
        let inner_prefix = format!("{prefix}{}.", l.field);
        let inner = |p: &Plan, a: &TokenStream| onnx_steps(p, a, &inner_prefix);
        let step = OnnxStep {
            acc,
            field: &l.field,
            label,
            inner: &inner,
        };
        out.extend(l.layer.onnx(&step));
        if let Some(a) = &l.act {
            out.extend(a.onnx(&step));
        }
    }
    out
}

/// The whole expansion of a checked declaration; `checks` are its const assertions.
pub fn expand(decl: &Decl, checked: &Checked, checks: TokenStream) -> TokenStream {
    let (dfdx, tn) = (dfdx(), tn());
    let Checked {
        input,
        output,
        plan,
    } = checked;
    let (attrs, vis, name) = (&decl.attrs, &decl.vis, &decl.name);
    let module = format_ident!("{}Module", name);
    let mut ex = Expander {
        decl,
        structs: Vec::new(),
        current: module.clone(),
        types: HashMap::new(),
        prefix: String::new(),
    };
    let fields = ex.fields(plan);
    let main = StructDef {
        name: module.clone(),
        doc: format!("The built [`{name}`] network: one field per layer. Build it with `dev.build_module::<{name}, f32>()`."),
        fields,
    };
    let mut items = ex.struct_items(&main);
    for s in &ex.structs {
        items.extend(ex.struct_items(s));
    }
    let rows = ex.rows(plan, "");

    let ends_softmax = plan.layers.last().is_some_and(|l| match l.act_role() {
        Some(r) => matches!(r, Role::Softmax),
        None => matches!(l.layer.role(), Role::Softmax),
    });
    let fusion = fuse(plan, input, true, Pass::Train);
    let acc = quote!(self);
    let infer = fuse(plan, input, true, Pass::Infer);
    let mut logits = steps(plan, &infer, input, &acc, Pass::Infer);
    let mut logits_mut = steps(plan, &fusion, input, &acc, Pass::Train);
    // What `fit` runs: like `logits_mut`, but the layer receiving the input skips its gradient.
    let mut logits_fit = fusion
        .input_layer
        .map(|_| steps(plan, &fusion, input, &acc, Pass::Fit));
    if plan.output.same_as(output) != Some(true) {
        let span = decl
            .output
            .as_ref()
            .and_then(|o| o.dims.first())
            .map_or(name.span(), syn::spanned::Spanned::span);
        let c = crate::cast::cast(&plan.output, output, span);
        logits.extend(c.clone());
        if let Some(l) = &mut logits_fit {
            l.extend(c.clone());
        }
        logits_mut.extend(c);
    }
    let final_softmax = if ends_softmax {
        final_softmax()
    } else {
        quote!()
    };

    let onnx = onnx_steps(plan, &acc, "");
    let (in_s, out_s) = (input.sample_ty(), output.sample_ty());
    let (in_t, out_t) = (input.tensor_ty(), output.tensor_ty());
    let (in_dims, out_dims) = (input.dims_slice(), output.dims_slice());
    let name_str = name.to_string();
    let gens = quote!(<__E: #tn::Element, __D: #tn::Backend<__E>>);
    let fwd_gens = quote!(<__B: #dfdx::shapes::Dim, __T: #dfdx::tensor::Tape<__E, __D>>);
    let res = quote!(::core::result::Result);
    let b1 = quote!(#dfdx::shapes::Const<1>);
    let counted = quote!(<#module<f32, #dfdx::tensor::Cpu> as #tn::LayerParams>);
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
    let batch = |s: &TokenStream| quote!(#tn::Batch<#s, __B, __E, __D, __T>);
    let (in_b, out_b) = (batch(&in_s), batch(&out_s));

    quote! {
        #(#attrs)*
        #[derive(Debug, Clone, Copy, Default)]
        #vis struct #name;

        #checks

        #[allow(dead_code)]
        impl #name {
            /// One sample's input shape, channels first.
            pub const INPUT_SHAPE: &'static [usize] = #in_dims;
            /// One sample's output shape.
            pub const OUTPUT_SHAPE: &'static [usize] = #out_dims;
            /// All parameters (Keras's "Total params").
            pub const PARAMS: usize = #counted::PARAMS;
            /// Trainable parameters (Keras's "Trainable params").
            pub const TRAINABLE_PARAMS: usize = #counted::TRAINABLE_PARAMS;
            /// A Keras-style table of the layers.
            pub fn summary() -> #tn::Summary {
                #tn::Summary {
                    name: ::std::string::String::from(#name_str),
                    input_shape: ::std::vec::Vec::from(Self::INPUT_SHAPE),
                    rows: <#module<f32, #dfdx::tensor::Cpu>>::__summary_rows(),
                }
            }
        }

        impl #tn::NetworkSpec for #name {
            const NAME: &'static str = #name_str;
            const INPUT_SHAPE: &'static [usize] = #name::INPUT_SHAPE;
            const OUTPUT_SHAPE: &'static [usize] = #name::OUTPUT_SHAPE;
            const PARAMS: usize = #name::PARAMS;
            const TRAINABLE_PARAMS: usize = #name::TRAINABLE_PARAMS;
            type Input = #in_s;
            type Output = #out_s;
            type Module #gens = #module<__E, __D>;
            fn summary() -> #tn::Summary {
                #name::summary()
            }
        }

        impl<__E: #dfdx::shapes::Dtype, __D: #dfdx::tensor::Storage<__E>> #tn::ModuleOf<__E, __D> for #name {
            type Module = #module<__E, __D>;
        }

        impl #gens #dfdx::nn::BuildOnDevice<__D, __E> for #name {
            type Built = #module<__E, __D>;
        }

        #items

        #[allow(dead_code)]
        impl<__E: #dfdx::shapes::Dtype, __D: #dfdx::tensor::Storage<__E>> #module<__E, __D> {
            fn __summary_rows() -> ::std::vec::Vec<#tn::SummaryRow> {
                ::std::vec![#(#rows),*]
            }
        }

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

        impl<__B: #dfdx::shapes::Dim, __E: #tn::Element, __D: #tn::Backend<__E>, __T: #dfdx::tensor::Tape<__E, __D>>
            #dfdx::nn::Module<#in_t> for #module<__E, __D>
        {
            type Output = #out_t;
            type Error = __D::Err;
            fn try_forward(&self, x: #in_t) -> #res<#out_t, __D::Err> {
                self.__forward(x)
            }
        }

        impl<__B: #dfdx::shapes::Dim, __E: #tn::Element, __D: #tn::Backend<__E>, __T: #dfdx::tensor::Tape<__E, __D>>
            #dfdx::nn::ModuleMut<#in_t> for #module<__E, __D>
        {
            type Output = #out_t;
            type Error = __D::Err;
            fn try_forward_mut(&mut self, x: #in_t) -> #res<#out_t, __D::Err> {
                self.__forward_mut(x)
            }
        }

        impl<__E: #tn::Element, __D: #tn::Backend<__E>, __T: #dfdx::tensor::Tape<__E, __D>>
            #dfdx::nn::Module<#dfdx::tensor::Tensor<#in_s, __E, __D, __T>> for #module<__E, __D>
        {
            type Output = #dfdx::tensor::Tensor<#out_s, __E, __D, __T>;
            type Error = __D::Err;
            fn try_forward(&self, x: #dfdx::tensor::Tensor<#in_s, __E, __D, __T>) -> #res<Self::Output, __D::Err> {
                let x = #dfdx::tensor_ops::ReshapeTo::try_reshape_like(x, &<#in_s as #tn::SampleShape>::batched(<#b1>::default()))?;
                let y = self.__forward::<#b1, __T>(x)?;
                #dfdx::tensor_ops::ReshapeTo::try_reshape_like(y, &<#out_s as ::core::default::Default>::default())
            }
        }

        impl<__E: #tn::Element, __D: #tn::Backend<__E>, __T: #dfdx::tensor::Tape<__E, __D>>
            #dfdx::nn::ModuleMut<#dfdx::tensor::Tensor<#in_s, __E, __D, __T>> for #module<__E, __D>
        {
            type Output = #dfdx::tensor::Tensor<#out_s, __E, __D, __T>;
            type Error = __D::Err;
            fn try_forward_mut(&mut self, x: #dfdx::tensor::Tensor<#in_s, __E, __D, __T>) -> #res<Self::Output, __D::Err> {
                let x = #dfdx::tensor_ops::ReshapeTo::try_reshape_like(x, &<#in_s as #tn::SampleShape>::batched(<#b1>::default()))?;
                let y = self.__forward_mut::<#b1, __T>(x)?;
                #dfdx::tensor_ops::ReshapeTo::try_reshape_like(y, &<#out_s as ::core::default::Default>::default())
            }
        }

        impl #gens #tn::ToOnnx for #module<__E, __D> {
            fn to_onnx(&self, __g: &mut #tn::OnnxGraph) -> #res<(), #tn::InteropError> {
                #onnx
                Ok(())
            }
        }

        impl #gens #tn::Network<__E, __D> for #module<__E, __D> {
            type InputShape = #in_s;
            type OutputShape = #out_s;
            const ENDS_IN_SOFTMAX: bool = #ends_softmax;
            fn try_forward_logits #fwd_gens (&self, x: #in_b) -> #res<#out_b, __D::Err> {
                self.__logits(x)
            }
            fn try_forward_logits_mut #fwd_gens (&mut self, x: #in_b) -> #res<#out_b, __D::Err> {
                self.#logits_fit_call(x)
            }
            fn try_forward_batch #fwd_gens (&self, x: #in_b) -> #res<#out_b, __D::Err> {
                self.__forward(x)
            }
            fn try_forward_batch_mut #fwd_gens (&mut self, x: #in_b) -> #res<#out_b, __D::Err> {
                self.__forward_mut(x)
            }
        }
    }
}

/// What a declaration with errors expands to: the errors, and the names it declares (with
/// empty values), so code using them does not add errors of its own.
pub fn stub(decl: &Decl, errors: TokenStream) -> TokenStream {
    let (attrs, vis, name) = (&decl.attrs, &decl.vis, &decl.name);
    let module = format_ident!("{}Module", name);
    let (dfdx, tn) = (dfdx(), tn());
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
            pub fn summary() -> #tn::Summary {
                #tn::Summary { name: ::std::string::String::from(#name_str), input_shape: ::std::vec::Vec::new(), rows: ::std::vec::Vec::new() }
            }
        }

        #[allow(dead_code)]
        #vis struct #module<__E: #dfdx::shapes::Dtype = f32, __D: #dfdx::tensor::Storage<__E> = #dfdx::tensor::AutoDevice>(::core::marker::PhantomData<(__E, __D)>);
    }
}
