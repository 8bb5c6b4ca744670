//! The IDX reader and the MNIST loader on arbitrary bytes: always a clean error (or a
//! valid array), never a panic.

use std::io::Write;

use proptest::prelude::*;
use typenet::data::idx::{parse_idx, read_maybe_gz, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC};
use typenet::data::{load_mnist_split, MnistSplit};

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("typenet-data-fuzz-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A header with the given magic and dims, then `data`.
fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = magic.to_be_bytes().to_vec();
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend(data);
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parse_idx_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let p = std::path::Path::new("fuzz-idx");
        if let Ok(a) = parse_idx(p, bytes.clone(), IDX_IMAGES_MAGIC) {
            prop_assert_eq!(a.dims.iter().product::<usize>(), a.data.len());
        }
        let _ = parse_idx(p, bytes, IDX_LABELS_MAGIC);
    }

    #[test]
    fn headers_with_any_dims_never_panic(
        dims in proptest::collection::vec(any::<u32>(), 0..5),
        ndims in any::<u8>(),
        data in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        // The byte giving the number of dimensions may disagree with the dims present.
        let magic = 0x0000_0800 | ndims as u32;
        let bytes = idx(magic, &dims, &data);
        let _ = parse_idx(std::path::Path::new("fuzz-dims"), bytes, magic);
    }

    #[test]
    fn gzip_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let d = tmp("gz");
        let p = d.join("x-idx1-ubyte.gz");
        std::fs::write(&p, [&[0x1f, 0x8b][..], &bytes].concat()).unwrap();
        let _ = read_maybe_gz(&p);
    }

    #[test]
    fn loader_never_panics_on_bad_files(
        images in proptest::collection::vec(any::<u8>(), 0..128),
        labels in proptest::collection::vec(any::<u8>(), 0..32),
        n in 0u32..4,
    ) {
        let d = tmp("loader");
        // Sometimes valid headers with random bodies, sometimes random bytes throughout.
        let img = if n % 2 == 0 { idx(IDX_IMAGES_MAGIC, &[n, 28, 28], &images) } else { images };
        let lab = if n < 2 { idx(IDX_LABELS_MAGIC, &[n], &labels) } else { labels };
        std::fs::File::create(d.join("t10k-images-idx3-ubyte")).unwrap().write_all(&img).unwrap();
        std::fs::File::create(d.join("t10k-labels-idx1-ubyte")).unwrap().write_all(&lab).unwrap();
        let r = load_mnist_split(&d, MnistSplit::Test);
        if let Err(e) = r {
            prop_assert!(!e.to_string().is_empty());
        }
    }
}
