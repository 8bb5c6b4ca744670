//! Reading IDX files (the format MNIST ships in), gzipped or raw.
//!
//! An IDX file is a big-endian header — two zero bytes, a type byte (`0x08`: unsigned
//! bytes, the only type MNIST uses), the number of dimensions `n`, then `n` 32-bit sizes —
//! followed by the data, `product(sizes)` bytes.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::DataError;

/// The magic number of an IDX file of unsigned bytes with three dimensions (MNIST images).
pub const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;
/// The magic number of an IDX file of unsigned bytes with one dimension (MNIST labels).
pub const IDX_LABELS_MAGIC: u32 = 0x0000_0801;

/// The first bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// An IDX array of unsigned bytes: its dimensions and its data, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// The sizes from the header, outermost first.
    pub dims: Vec<usize>,
    /// `dims.iter().product()` bytes.
    pub data: Vec<u8>,
}

/// Reads the bytes of `path`, decompressing them when the file is gzipped (when its name
/// ends in `.gz` or its content starts with the gzip magic bytes).
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let named_gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    if !named_gz && !raw.starts_with(&GZIP_MAGIC) {
        return Ok(raw);
    }
    // MNIST files compress about 5x; start with a buffer of that size to avoid regrowing.
    let mut out = Vec::with_capacity(raw.len().saturating_mul(5));
    flate2::read::GzDecoder::new(raw.as_slice())
        .read_to_end(&mut out)
        .map_err(|source| DataError::Gzip {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(out)
}

/// Parses IDX `bytes` read from `path` and checks that the header's magic number is
/// `expected_magic` and that the data has exactly the length the header announces.
pub fn parse_idx(path: &Path, bytes: Vec<u8>, expected_magic: u32) -> Result<IdxArray, DataError> {
    let path_buf = || -> PathBuf { path.to_path_buf() };
    let magic = read_u32(&bytes, 0).ok_or_else(|| DataError::Truncated {
        path: path_buf(),
        what: "the 4-byte magic number".into(),
        needed: 4,
        actual: bytes.len(),
    })?;
    if magic != expected_magic {
        return Err(DataError::BadMagic {
            path: path_buf(),
            found: magic,
            expected: expected_magic,
        });
    }
    // The magic number's last byte is the number of dimensions.
    let ndims = (magic & 0xff) as usize;
    let header_len = 4 + 4 * ndims;
    let mut dims = Vec::with_capacity(ndims);
    for i in 0..ndims {
        let d = read_u32(&bytes, 4 + 4 * i).ok_or_else(|| DataError::Truncated {
            path: path_buf(),
            what: format!("the {header_len}-byte header ({ndims} dimensions)"),
            needed: header_len,
            actual: bytes.len(),
        })?;
        dims.push(d as usize);
    }
    let expected_len = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| DataError::BadHeader {
            path: path_buf(),
            reason: format!("the dimensions {dims:?} overflow"),
        })?;
    let actual_len = bytes.len().saturating_sub(header_len);
    if actual_len != expected_len {
        return Err(DataError::LengthMismatch {
            path: path_buf(),
            dims,
            expected: expected_len,
            actual: actual_len,
        });
    }
    let mut data = bytes;
    data.drain(..header_len);
    Ok(IdxArray { dims, data })
}

/// Reads and parses the IDX file at `path` (gzipped or raw), expecting `expected_magic`.
pub fn read_idx(path: &Path, expected_magic: u32) -> Result<IdxArray, DataError> {
    parse_idx(path, read_maybe_gz(path)?, expected_magic)
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

/// Encodes `dims` and `data` as an IDX file of unsigned bytes (the inverse of
/// [`parse_idx`]); useful for writing test fixtures. The sizes must fit in `u32`.
pub fn encode_idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 4 * dims.len() + data.len());
    out.extend_from_slice(&[0, 0, 0x08, dims.len() as u8]);
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}
