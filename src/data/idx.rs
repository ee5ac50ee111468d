//! The IDX file format (LeCun's format for MNIST and its relatives), read generically.
//!
//! Layout, all integers big-endian:
//! ```text
//! byte 0-1   0x00 0x00            magic: two zero bytes
//! byte 2     type                 0x08 = u8 (0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64)
//! byte 3     rank r               number of dimensions
//! then       r × u32              the dimensions, outermost first (e.g. 60000, 28, 28)
//! then       payload              d₀·d₁·…·d_{r-1} values, row-major
//! ```
//! A file may be gzip-compressed: that is decided by its first two bytes
//! (`1f 8b`), not by its name; every member of a multi-member gzip file is read
//! (as `gunzip` does), and bytes after the last member are refused like bytes
//! after a raw payload. Only u8 payloads are supported (every dataset of
//! the MNIST family uses them); other types are refused with a clear error.
//!
//! The payload length is checked against the dimensions *before* anything large
//! is allocated, so a header that claims four billion images in a 1 KB file fails
//! at once.

use std::io::Read;
use std::path::Path;

use byteorder::{BigEndian, ReadBytesExt};
use flate2::read::MultiGzDecoder;

use crate::error::{Error, Result};

/// DEFLATE cannot compress by more than about 1032:1, so a gzip file of `n`
/// bytes cannot hold more than `n × 1032` bytes of payload. (A raw file holds
/// exactly its length.)
const MAX_DEFLATE_RATIO: usize = 1032;

/// The IDX type byte for unsigned bytes, the only payload type supported.
const TYPE_U8: u8 = 0x08;

/// A parsed IDX file: its dimensions and its u8 payload (row-major).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// The dimensions, outermost first, e.g. `[60000, 28, 28]` or `[60000]`.
    pub dims: Vec<usize>,
    /// `dims.iter().product()` bytes, row-major.
    pub data: Vec<u8>,
    /// The first dimension the header gives (more than `dims[0]` for a prefix).
    pub header_count: usize,
}

/// Reads the first `items` entries (along the first dimension) of an IDX file,
/// or all of them if `None`: a limited read inflates only what it returns.
pub fn read_idx_prefix(path: &Path, items: Option<usize>) -> Result<IdxArray> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_idx_prefix(&bytes, path, items)
}

/// The dimensions an IDX file's header gives, checked as a full read checks
/// them (the file can hold the payload they promise), reading only the
/// header: what a read would allocate can be counted before it does.
pub fn read_idx_dims(path: &Path) -> Result<Vec<usize>> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len() as usize;
    let mut magic = [0u8; 2];
    file.read_exact(&mut magic)
        .map_err(|e| Error::io(path, e))?;
    let source = Source {
        path,
        is_gzip: magic == [0x1f, 0x8b],
        len,
    };
    let file = std::io::BufReader::new((&magic[..]).chain(file));
    let mut reader: Box<dyn Read + '_> = if source.is_gzip {
        Box::new(MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    read_header(&mut reader, &source)
}

/// Parses the bytes of an IDX file (raw or gzip); `path` is only used in error messages.
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<IdxArray> {
    parse_idx_prefix(bytes, path, None)
}

/// [`parse_idx`] of the first `items` entries only (all if `None`); the bytes
/// after them are then not read, so trailing data goes unnoticed.
pub fn parse_idx_prefix(bytes: &[u8], path: &Path, items: Option<usize>) -> Result<IdxArray> {
    let source = Source {
        path,
        is_gzip: bytes.starts_with(&[0x1f, 0x8b]),
        len: bytes.len(),
    };
    let mut reader: Box<dyn Read + '_> = if source.is_gzip {
        Box::new(MultiGzDecoder::new(bytes))
    } else {
        Box::new(bytes)
    };
    let mut dims = read_header(&mut reader, &source)?;
    let full_len: usize = dims.iter().product(); // checked by read_header
                                                 // A prefix: only the first `items` entries of the first dimension.
    let header_count = dims[0];
    if let Some(n) = items.filter(|&n| n < header_count) {
        dims[0] = n;
    }
    let payload_len: usize = dims.iter().product();
    let mut data = Vec::new();
    data.try_reserve_exact(payload_len).map_err(|_| {
        source.bad(format!(
            "dimensions {dims:?} need {payload_len} bytes of memory, which cannot be allocated"
        ))
    })?;
    (&mut reader)
        .take(payload_len as u64)
        .read_to_end(&mut data)
        .map_err(|e| source.read_error("IDX payload", e))?;
    if data.len() < payload_len {
        return Err(source.bad(format!(
            "truncated: header dimensions {dims:?} promise {payload_len} bytes of data, found {}",
            data.len()
        )));
    }
    // One more byte (or a failed attempt at another gzip member) means data
    // after the payload: refused, raw or gzip alike.
    let mut extra = [0u8; 1];
    if payload_len == full_len && !matches!(reader.read(&mut extra), Ok(0)) {
        return Err(source.bad(format!(
            "unexpected data after the {payload_len} bytes promised by dimensions {dims:?}"
        )));
    }
    Ok(IdxArray {
        dims,
        data,
        header_count,
    })
}

/// Where the bytes come from, for error messages and size checks.
struct Source<'a> {
    path: &'a Path,
    is_gzip: bool,
    /// Length of the file as stored (compressed or not).
    len: usize,
}

impl Source<'_> {
    fn bad(&self, message: String) -> Error {
        Error::bad_file(self.path, message)
    }

    /// A failed read of `what`: truncated, corrupt gzip, or another I/O error.
    fn read_error(&self, what: &str, e: std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            self.bad(format!("truncated {what}: the file ends early"))
        } else if self.is_gzip {
            self.bad(format!("corrupt gzip data while reading the {what}: {e}"))
        } else {
            self.bad(format!("cannot read the {what}: {e}"))
        }
    }
}

/// Reads and checks the header: magic, type (u8 only), rank, dimensions, and
/// that the file can hold the payload they promise. Returns the dimensions.
fn read_header(reader: &mut impl Read, source: &Source) -> Result<Vec<usize>> {
    let mut magic = [0u8; 4];
    reader
        .read_exact(&mut magic)
        .map_err(|e| source.read_error("IDX header", e))?;
    if magic[0] != 0 || magic[1] != 0 {
        return Err(source.bad(format!(
            "not an IDX file: magic starts with {:02x} {:02x}, expected 00 00",
            magic[0], magic[1]
        )));
    }
    let (type_byte, rank) = (magic[2], magic[3] as usize);
    if type_byte != TYPE_U8 {
        return Err(source.bad(format!(
            "unsupported IDX data type 0x{type_byte:02x} ({}); only 0x08 (unsigned byte) is supported",
            type_name(type_byte)
        )));
    }
    if rank == 0 {
        return Err(source.bad("IDX header has rank 0 (no dimensions)".into()));
    }
    let mut dims: Vec<usize> = Vec::with_capacity(rank);
    for _ in 0..rank {
        let d = reader
            .read_u32::<BigEndian>()
            .map_err(|e| source.read_error("IDX dimensions", e))?;
        dims.push(d as usize);
    }
    let payload_len = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| source.bad(format!("dimensions {dims:?} overflow the address space")))?;
    let header_len = 4 + 4 * rank;
    if source.is_gzip && payload_len > source.len.saturating_mul(MAX_DEFLATE_RATIO) {
        return Err(source.bad(format!(
            "header claims dimensions {dims:?} ({payload_len} bytes of data) \
             but a {}-byte gzip file cannot hold that much",
            source.len
        )));
    }
    if !source.is_gzip && payload_len > source.len - header_len {
        return Err(source.bad(format!(
            "truncated: header dimensions {dims:?} promise {payload_len} bytes of data, \
             the file holds {}",
            source.len - header_len
        )));
    }
    Ok(dims)
}

/// Human name of an IDX type byte, for error messages.
fn type_name(type_byte: u8) -> &'static str {
    match type_byte {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "i16",
        0x0C => "i32",
        0x0D => "f32",
        0x0E => "f64",
        _ => "unknown type",
    }
}

/// Encodes a u8 array as raw IDX bytes (the inverse of [`parse_idx`]); used by
/// tests and tools that need small IDX files.
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    assert_eq!(
        dims.iter().product::<usize>(),
        data.len(),
        "encode_idx: dims and data disagree"
    );
    let mut out = vec![0, 0, TYPE_U8, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    fn parse(bytes: &[u8]) -> Result<IdxArray> {
        parse_idx(bytes, Path::new("test.idx"))
    }

    fn message(result: Result<IdxArray>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn raw_and_gzip_parse_the_same() {
        let data: Vec<u8> = (0..24).collect();
        let raw = encode_idx(&[2, 3, 4], &data);
        let expected = IdxArray {
            dims: vec![2, 3, 4],
            data,
            header_count: 2,
        };
        assert_eq!(parse(&raw).unwrap(), expected);
        assert_eq!(parse(&gzip(&raw)).unwrap(), expected);
    }

    #[test]
    fn multi_member_gzip_is_read_whole_and_trailing_garbage_refused() {
        let data: Vec<u8> = (0..24).collect();
        let raw = encode_idx(&[2, 3, 4], &data);
        let (first, second) = raw.split_at(10);
        let mut two_members = gzip(first);
        two_members.extend(gzip(second));
        assert_eq!(parse(&two_members).unwrap().data, data);
        let mut garbage = gzip(&raw);
        garbage.extend(b"garbage!");
        let err = parse(&garbage).unwrap_err().to_string();
        assert!(err.contains("unexpected data after"), "{err}");
        let mut raw_garbage = raw.clone();
        raw_garbage.extend(b"garbage!");
        let raw_err = parse(&raw_garbage).unwrap_err().to_string();
        assert!(raw_err.contains("unexpected data after"), "{raw_err}");
    }

    #[test]
    fn a_prefix_inflates_only_what_it_returns() {
        let data: Vec<u8> = (0..24).collect();
        let raw = encode_idx(&[4, 3, 2], &data);
        let prefix = parse_idx_prefix(&gzip(&raw), Path::new("t"), Some(2)).unwrap();
        assert_eq!(
            (prefix.dims, prefix.data, prefix.header_count),
            (vec![2, 3, 2], data[..12].to_vec(), 4)
        );
    }

    #[test]
    fn bad_magic_is_refused() {
        let mut raw = encode_idx(&[2], &[1, 2]);
        raw[0] = 7;
        assert!(message(parse(&raw)).contains("not an IDX file"));
    }

    #[test]
    fn non_u8_type_is_refused() {
        let mut raw = encode_idx(&[1], &[0]);
        raw[2] = 0x0D;
        let msg = message(parse(&raw));
        assert!(
            msg.contains("unsupported IDX data type 0x0d (f32)"),
            "{msg}"
        );
    }

    #[test]
    fn truncated_payload_and_header_are_refused() {
        let raw = encode_idx(&[10], &[5; 10]);
        assert!(message(parse(&raw[..9])).contains("truncated"));
        assert!(message(parse(&raw[..6])).contains("truncated IDX dimensions"));
        assert!(message(parse(&gzip(&raw[..9]))).contains("truncated"));
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut raw = encode_idx(&[3], &[1, 2, 3]);
        raw.push(9);
        assert!(message(parse(&raw)).contains("unexpected data after"));
    }

    #[test]
    fn lying_header_fails_before_allocating() {
        // 4,000,000,000 × 28 × 28 bytes claimed in a tiny file.
        let mut raw = vec![0, 0, 8, 3];
        for d in [4_000_000_000u32, 28, 28] {
            raw.extend_from_slice(&d.to_be_bytes());
        }
        raw.extend_from_slice(&[0; 1000]);
        let msg = message(parse(&raw));
        assert!(
            msg.contains("truncated: header dimensions [4000000000, 28, 28]"),
            "{msg}"
        );
        let msg = message(parse(&gzip(&raw)));
        assert!(msg.contains("gzip file cannot hold that much"), "{msg}");
    }

    #[test]
    fn corrupt_gzip_is_refused() {
        let raw = encode_idx(&[100], &[7; 100]);
        let mut gz = gzip(&raw);
        let mid = gz.len() / 2;
        for b in &mut gz[10..mid] {
            *b ^= 0x5a;
        }
        let msg = message(parse(&gz));
        assert!(msg.contains("gzip") || msg.contains("truncated"), "{msg}");
    }
}
