//! Field names and "did you mean" suggestions.

/// `MaxPool2D` -> `max_pool2d`, `GELU` -> `gelu`, `MnistCnn` -> `mnist_cnn`.
pub fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower = i > 0 && chars[i - 1].is_lowercase();
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(!ca.eq_ignore_ascii_case(cb));
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest of `known` to `word`, if it is close enough to be a likely typo.
pub fn closest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (distance(word, k), *k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case() {
        assert_eq!(snake("Conv2D"), "conv2d");
        assert_eq!(snake("MaxPool2D"), "max_pool2d");
        assert_eq!(snake("GELU"), "gelu");
        assert_eq!(snake("MnistCnn"), "mnist_cnn");
        assert_eq!(snake("HTTPBlock"), "http_block");
    }

    #[test]
    fn suggestions() {
        let known = ["Dense", "ReLU", "MaxPool2D", "Flatten"];
        assert_eq!(closest("Dens", &known), Some("Dense"));
        assert_eq!(closest("Relu", &known), Some("ReLU"));
        assert_eq!(closest("MaxPol2D", &known), Some("MaxPool2D"));
        assert_eq!(closest("Encoder", &known), None);
    }
}
