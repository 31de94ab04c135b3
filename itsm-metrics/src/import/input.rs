//! Opening an input file for an importer: plain or gzip-compressed (told by
//! its first bytes, not its name), with one rule for every importer: a
//! truncated or corrupt compressed stream is a read error, never a short
//! file. Importers stop on it (the interchange importer reports it as
//! [`ImportReport::fatal`](super::ImportReport)), so nothing is computed or
//! written from part of a file.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

/// Why an input could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file could not be opened or read.
    #[error("{path}: cannot read: {source}")]
    Unreadable {
        /// The path.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// The path is a directory.
    #[error("{path}: is a directory, not a file")]
    Directory {
        /// The path.
        path: String,
    },
}

/// An opened input.
pub struct Input {
    name: String,
    compressed: bool,
    reader: Box<dyn Read + Send>,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input").field("name", &self.name).field("compressed", &self.compressed).finish()
    }
}

impl Input {
    /// The path as given, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the file is gzip-compressed.
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf)
    }
}

/// Reads a gzip stream; any failure of the stream names the file.
struct Gzip {
    name: String,
    inner: MultiGzDecoder<BufReader<File>>,
}

impl Read for Gzip {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            let kind = match e.kind() {
                io::ErrorKind::Interrupted => io::ErrorKind::Interrupted,
                _ => io::ErrorKind::InvalidData,
            };
            io::Error::new(kind, format!("{}: the gzip stream is truncated or corrupt ({e})", self.name))
        })
    }
}

/// Opens `path`: a gzip file (first bytes `1f 8b`) is decompressed as it is
/// read, anything else is read as it is.
pub fn open(path: &Path) -> Result<Input, InputError> {
    let name = path.display().to_string();
    let unreadable = |source| InputError::Unreadable { path: name.clone(), source };
    let mut file = File::open(path).map_err(unreadable)?;
    if file.metadata().map_err(unreadable)?.is_dir() {
        return Err(InputError::Directory { path: name });
    }
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        match file.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(unreadable(e)),
        }
    }
    let head = io::Cursor::new(magic[..got].to_vec());
    if magic[..got] == [0x1f, 0x8b] {
        // Re-open to read the stream from its start.
        let file = File::open(path).map_err(unreadable)?;
        let inner = MultiGzDecoder::new(BufReader::with_capacity(256 * 1024, file));
        return Ok(Input { name: name.clone(), compressed: true, reader: Box::new(Gzip { name, inner }) });
    }
    Ok(Input { name, compressed: false, reader: Box::new(head.chain(file)) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn read_all(path: &Path) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        open(path).map_err(|e| io::Error::other(e.to_string()))?.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn plain_and_gzip_read_the_same_and_damaged_gzip_is_an_error() {
        let dir = std::env::temp_dir().join(format!("itsm-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text: Vec<u8> = (0..20_000).flat_map(|i| format!("row {i},x\n").into_bytes()).collect();
        let plain = dir.join("a.csv");
        std::fs::write(&plain, &text).unwrap();
        assert_eq!(read_all(&plain).unwrap(), text);
        let packed = gz(&text);
        let good = dir.join("a.csv.gz");
        std::fs::write(&good, &packed).unwrap();
        assert!(open(&good).unwrap().is_compressed());
        assert_eq!(read_all(&good).unwrap(), text);
        let truncated = dir.join("t.csv.gz");
        std::fs::write(&truncated, &packed[..packed.len() / 2]).unwrap();
        let e = read_all(&truncated).unwrap_err();
        assert!(e.to_string().contains("truncated or corrupt"), "{e}");
        let mut flipped = packed.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0x10;
        let bad = dir.join("f.csv.gz");
        std::fs::write(&bad, &flipped).unwrap();
        assert!(read_all(&bad).is_err(), "a bit flip must not read as a shorter file");
        let empty = dir.join("e.csv");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(read_all(&empty).unwrap(), Vec::<u8>::new());
        assert!(matches!(open(&dir), Err(InputError::Directory { .. })));
        std::fs::remove_dir_all(&dir).ok();
    }
}
