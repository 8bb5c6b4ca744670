//! How typenet's tensor names become the keys of a PyTorch `state_dict`.

use std::fmt;
use std::sync::Arc;

/// Maps typenet's tensor names to PyTorch keys. The default maps the layer at position
/// *i* to `nn.Sequential` index *i* (`conv2d_0.weight` → `0.weight`,
/// `residual_3.conv2d_0.weight` → `3.0.weight`).
#[derive(Clone, Default)]
pub struct NameMap {
    prefix: String,
    custom: Option<Arc<dyn Fn(&str) -> String + Send + Sync>>,
}

impl fmt::Debug for NameMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NameMap")
            .field("prefix", &self.prefix)
            .field("custom", &self.custom.is_some())
            .finish()
    }
}

impl NameMap {
    /// The default names, each with `prefix` before it: `NameMap::prefix("features.")`
    /// maps `conv2d_0.weight` to `features.0.weight`.
    pub fn prefix(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            custom: None,
        }
    }

    /// Any mapping: `f` gets the default key (`0.weight`, `3.0.bias`) and returns the key
    /// in the file, e.g. `|k| k.replace("0.", "conv1.")`.
    pub fn custom(f: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        Self {
            prefix: String::new(),
            custom: Some(Arc::new(f)),
        }
    }

    /// The key of typenet's tensor `name`.
    pub fn key(&self, name: &str) -> String {
        let d = format!("{}{}", self.prefix, default_key(name));
        match &self.custom {
            Some(f) => f(&d),
            None => d,
        }
    }
}

/// `residual_3.conv2d_0.scale` → `3.0.weight`: each layer by its position, each leaf by
/// PyTorch's name for it.
pub(crate) fn default_key(name: &str) -> String {
    let parts: Vec<&str> = name.split('.').collect();
    let (leaf, layers) = parts.split_last().map_or(("", &[][..]), |(l, r)| (*l, r));
    let mut out: Vec<&str> = layers
        .iter()
        .map(|p| match p.rsplit_once('_') {
            Some((_, i)) if !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()) => i,
            _ => p,
        })
        .collect();
    out.push(match leaf {
        "scale" | "gamma" => "weight",
        "beta" => "bias",
        l => l,
    });
    out.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keys() {
        assert_eq!(default_key("conv2d_0.weight"), "0.weight");
        assert_eq!(default_key("residual_3.conv2d_0.bias"), "3.0.bias");
        assert_eq!(default_key("batch_norm2d_2.scale"), "2.weight");
        assert_eq!(default_key("layer_norm1d_5.beta"), "5.bias");
        assert_eq!(
            NameMap::prefix("features.").key("dense_4.weight"),
            "features.4.weight"
        );
        let m = NameMap::custom(|k| format!("net.{k}"));
        assert_eq!(m.key("dense_4.bias"), "net.4.bias");
    }
}
