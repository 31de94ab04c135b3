//! Splitting a CSV byte stream into chunks of whole records, with physical
//! line numbers, without parsing the fields.
//!
//! The splitter follows the quoting rules of the `csv` crate (RFC 4180: a
//! quote opens a quoted field only at the start of a field, `""` inside a
//! quoted field is a literal quote, records end at `\n`, `\r\n` or a lone
//! `\r` outside quotes), so every chunk starts at a record boundary and each
//! chunk can be parsed on its own, on any thread. It also finds what the
//! `csv` crate would silently accept: a quote that never closes (every later
//! line would become one field) and a row longer than [`MAX_ROW_BYTES`].
//! Such a row is handed out as [`Broken`], and reading resumes on the line
//! after the one where the quote opened, so nothing after it is lost.

use std::io::{self, Read};

/// The longest row the importer reads (4 MiB): a quote still open after
/// this many bytes is reported as unterminated.
pub const MAX_ROW_BYTES: usize = 4 << 20;

/// A row that could not be split into a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Broken {
    /// A quote opened and never closed.
    Unterminated {
        /// Line where the row starts.
        row_line: u64,
        /// Line where the quote opened.
        quote_line: u64,
        /// Index of the field the quote opened.
        field: usize,
        /// Lines after the quote's line that the quote ran over.
        swallowed: u64,
        /// Whether it ran to the end of the input (otherwise past [`MAX_ROW_BYTES`]).
        to_end: bool,
    },
    /// A row with no record end within [`MAX_ROW_BYTES`].
    TooLong {
        /// Line where the row starts.
        row_line: u64,
    },
}

impl Broken {
    /// The line the row starts on.
    pub(crate) fn line(&self) -> u64 {
        match self {
            Broken::Unterminated { row_line, .. } | Broken::TooLong { row_line } => *row_line,
        }
    }
}

/// Whole records of the input and the physical line of their first byte.
#[derive(Debug, Default)]
pub(crate) struct Chunk {
    /// Position in the input, from 0.
    pub index: u64,
    /// Physical line (1-based) of `bytes[0]`.
    pub first_line: u64,
    /// Whole records.
    pub bytes: Vec<u8>,
    /// A row after `bytes` that could not be split.
    pub broken: Option<Broken>,
}

/// Line breaks in `bytes`: `\n`, `\r\n` (once) and a lone `\r`.
pub(crate) fn line_breaks(bytes: &[u8]) -> u64 {
    let lf = memchr::memchr_iter(b'\n', bytes).count() as u64;
    let lone_cr = memchr::memchr_iter(b'\r', bytes).filter(|&i| bytes.get(i + 1) != Some(&b'\n')).count() as u64;
    lf + lone_cr
}

/// Line breaks in `bytes[..end]`, where a `\r` at the end of that slice is
/// not counted when `bytes[end]` is the `\n` of its CRLF (the `csv` crate
/// ends a CRLF record after the `\r`).
pub(crate) fn line_breaks_before(bytes: &[u8], end: usize) -> u64 {
    let end = end.min(bytes.len());
    let split_pair = end > 0 && bytes[end - 1] == b'\r' && bytes.get(end) == Some(&b'\n');
    line_breaks(&bytes[..end]) - u64::from(split_pair)
}

/// Splits a byte stream into [`Chunk`]s.
pub(crate) struct Splitter<R> {
    reader: R,
    buf: Vec<u8>,
    /// Physical line of `buf[0]`.
    line: u64,
    /// Bytes of `buf` scanned; the state below holds up to here.
    scanned: usize,
    in_quote: bool,
    /// Where the open quote is, while `in_quote`.
    quote_at: usize,
    /// End of the last whole record in `buf`.
    cut: usize,
    eof: bool,
    started: bool,
    index: u64,
    chunk_bytes: usize,
    max_row: usize,
}

impl<R: Read> Splitter<R> {
    /// A splitter handing out chunks of about `chunk_bytes`.
    pub(crate) fn new(reader: R, chunk_bytes: usize) -> Splitter<R> {
        Splitter::with_limit(reader, chunk_bytes, MAX_ROW_BYTES)
    }

    /// With an explicit row limit (tests).
    pub(crate) fn with_limit(reader: R, chunk_bytes: usize, max_row: usize) -> Splitter<R> {
        Splitter {
            reader,
            buf: Vec::new(),
            line: 1,
            scanned: 0,
            in_quote: false,
            quote_at: 0,
            cut: 0,
            eof: false,
            started: false,
            index: 0,
            chunk_bytes: chunk_bytes.max(1),
            max_row: max_row.max(1),
        }
    }

    /// Reads until `buf` holds at least `want` bytes or the input ends.
    fn fill(&mut self, want: usize) -> io::Result<()> {
        while !self.eof && self.buf.len() < want {
            // Read in blocks of at least 64 KiB, or of the chunk size when chunks are smaller.
            let missing = (want - self.buf.len()).max(self.chunk_bytes.min(64 * 1024)) as u64;
            let n = (&mut self.reader).take(missing).read_to_end(&mut self.buf)?;
            if n == 0 {
                self.eof = true;
            }
        }
        if !self.started && (self.buf.len() >= 3 || self.eof) {
            self.started = true;
            if self.buf.starts_with(b"\xEF\xBB\xBF") {
                self.buf.drain(..3);
            }
        }
        Ok(())
    }

    /// Scans `buf` from where the last scan stopped, up to the first record
    /// end at or past `chunk_bytes` (a chunk ends there).
    fn scan(&mut self) {
        let b = &self.buf;
        let n = b.len();
        let mut p = self.scanned;
        while p < n {
            if self.in_quote {
                match memchr::memchr(b'"', &b[p..]) {
                    None => p = n,
                    Some(i) => {
                        let q = p + i;
                        match b.get(q + 1) {
                            Some(b'"') => p = q + 2,
                            Some(_) => {
                                self.in_quote = false;
                                p = q + 1;
                            }
                            None if self.eof => {
                                self.in_quote = false;
                                p = n;
                            }
                            // The next byte decides: wait for it.
                            None => break,
                        }
                    }
                }
            } else {
                match memchr::memchr3(b'"', b'\n', b'\r', &b[p..]) {
                    None => p = n,
                    Some(i) => {
                        let q = p + i;
                        match b[q] {
                            b'"' => {
                                if q == 0 || matches!(b[q - 1], b',' | b'\n' | b'\r') {
                                    self.in_quote = true;
                                    self.quote_at = q;
                                }
                                p = q + 1;
                            }
                            b'\n' => {
                                p = q + 1;
                                self.cut = p;
                                if p >= self.chunk_bytes {
                                    break;
                                }
                            }
                            _ => match b.get(q + 1) {
                                Some(b'\n') => {
                                    p = q + 2;
                                    self.cut = p;
                                    if p >= self.chunk_bytes {
                                        break;
                                    }
                                }
                                Some(_) => {
                                    p = q + 1;
                                    self.cut = p;
                                    if p >= self.chunk_bytes {
                                        break;
                                    }
                                }
                                None if self.eof => {
                                    p = q + 1;
                                    self.cut = p;
                                }
                                None => break,
                            },
                        }
                    }
                }
            }
        }
        self.scanned = p;
        if self.eof && !self.in_quote && p == n {
            // The last record needs no terminator.
            self.cut = n;
        }
    }

    /// Hands out `buf[..end]` as a chunk, with `broken` after it.
    fn emit(&mut self, end: usize, broken: Option<Broken>) -> Chunk {
        let rest = self.buf.split_off(end);
        let bytes = std::mem::replace(&mut self.buf, rest);
        let first_line = self.line;
        self.line += line_breaks(&bytes);
        self.scanned -= end.min(self.scanned);
        self.cut -= end.min(self.cut);
        self.quote_at = self.quote_at.saturating_sub(end);
        let index = self.index;
        self.index += 1;
        Chunk { index, first_line, bytes, broken }
    }

    /// The line of the first byte of `buf[at..]` that is not a line break.
    fn line_at(&self, at: usize) -> u64 {
        let mut s = at;
        while matches!(self.buf.get(s), Some(b'\n' | b'\r')) {
            s += 1;
        }
        self.line + line_breaks(&self.buf[..s.min(self.buf.len())])
    }

    /// The row starting at `cut` has a quote that never closes (within the
    /// input, or within the row limit): hand out the records before it with
    /// the broken row, and resume on the line after the quote's.
    fn unterminated(&mut self, to_end: bool) -> io::Result<Chunk> {
        let start = self.cut;
        let quote_at = self.quote_at.max(start);
        let row_line = self.line_at(start);
        let quote_line = self.line + line_breaks(&self.buf[..quote_at]);
        let field = field_index(&self.buf[start..quote_at]);
        let tail = &self.buf[quote_at..];
        let mut swallowed = line_breaks(tail);
        if tail.ends_with(b"\n") || tail.ends_with(b"\r") {
            swallowed = swallowed.saturating_sub(1);
        }
        // Resume after the line break that ends the quote's line.
        let resume = match memchr::memchr2(b'\n', b'\r', tail) {
            Some(i) => {
                let q = quote_at + i;
                if self.buf[q] == b'\r' && self.buf.get(q + 1) == Some(&b'\n') { q + 2 } else { q + 1 }
            }
            None => self.buf.len(),
        };
        let line_ended = resume < self.buf.len() || self.buf.ends_with(b"\n") || self.buf.ends_with(b"\r");
        let chunk = self.emit(start, Some(Broken::Unterminated { row_line, quote_line, field, swallowed, to_end }));
        // Drop the broken row's lines up to the resume point.
        let dropped = resume - start;
        self.line += line_breaks(&self.buf[..dropped]);
        self.buf.drain(..dropped);
        self.in_quote = false;
        self.scanned = 0;
        self.cut = 0;
        if !line_ended && !self.eof {
            // The quote's line goes on past what was read: skip the rest of it.
            self.skip_line()?;
        }
        Ok(chunk)
    }

    /// Discards input up to and including the next line break (the rest of
    /// a broken row's line), or to the end of the input.
    fn skip_line(&mut self) -> io::Result<()> {
        loop {
            match memchr::memchr2(b'\n', b'\r', &self.buf) {
                Some(i) => {
                    let end = if self.buf[i] == b'\r' && self.buf.get(i + 1) == Some(&b'\n') { i + 2 } else { i + 1 };
                    self.line += 1;
                    self.buf.drain(..end);
                    break;
                }
                None => {
                    self.buf.clear();
                    if self.eof {
                        break;
                    }
                    self.fill(self.chunk_bytes)?;
                }
            }
        }
        self.scanned = 0;
        self.cut = 0;
        self.in_quote = false;
        Ok(())
    }

    /// The row starting at `cut` (not quoted) has no end within the limit:
    /// hand it out as broken and skip to the next line.
    fn too_long(&mut self) -> io::Result<Chunk> {
        let start = self.cut;
        let row_line = self.line_at(start);
        let chunk = self.emit(start, Some(Broken::TooLong { row_line }));
        self.skip_line()?;
        Ok(chunk)
    }

    /// Changes the chunk size from now on.
    pub(crate) fn set_chunk_bytes(&mut self, bytes: usize) {
        self.chunk_bytes = bytes.max(1);
    }

    /// Puts a chunk handed out last back in front of the input, to be split
    /// again (with a new chunk size). A chunk with a broken row is given back
    /// instead: its broken row's bytes are gone.
    pub(crate) fn unread(&mut self, chunk: Chunk) -> Result<(), Chunk> {
        if chunk.broken.is_some() || chunk.index + 1 != self.index {
            return Err(chunk);
        }
        let mut bytes = chunk.bytes;
        bytes.extend_from_slice(&self.buf);
        self.buf = bytes;
        self.line = chunk.first_line;
        self.index = chunk.index;
        self.scanned = 0;
        self.cut = 0;
        self.in_quote = false;
        self.quote_at = 0;
        Ok(())
    }

    /// The index the next chunk will have.
    pub(crate) fn next_index(&self) -> u64 {
        self.index
    }

    /// The physical line the splitter has reached.
    pub(crate) fn line(&self) -> u64 {
        self.line
    }

    /// The next chunk, `None` at the end of the input.
    pub(crate) fn next_chunk(&mut self) -> io::Result<Option<Chunk>> {
        let mut want = self.chunk_bytes;
        loop {
            self.fill(want)?;
            self.scan();
            if self.cut > 0 && (self.buf.len() >= self.chunk_bytes || self.eof) {
                return Ok(Some(self.emit(self.cut, None)));
            }
            if self.eof {
                if self.in_quote {
                    return self.unterminated(true).map(Some);
                }
                // Everything was handed out.
                return Ok(None);
            }
            if self.buf.len() - self.cut > self.max_row {
                if self.cut > 0 {
                    return Ok(Some(self.emit(self.cut, None)));
                }
                if self.in_quote {
                    return self.unterminated(false).map(Some);
                }
                return self.too_long().map(Some);
            }
            want = self.buf.len() + self.chunk_bytes;
        }
    }
}

/// The index of the field that starts after `prefix` (the bytes of the row
/// before it).
fn field_index(prefix: &[u8]) -> usize {
    if prefix.is_empty() {
        return 0;
    }
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(prefix);
    let mut record = csv::ByteRecord::new();
    match reader.read_byte_record(&mut record) {
        Ok(true) => record.len().saturating_sub(1),
        Ok(false) | Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(input: &[u8], chunk: usize, limit: usize) -> Vec<Chunk> {
        let mut s = Splitter::with_limit(input, chunk, limit);
        let mut out = Vec::new();
        while let Some(c) = s.next_chunk().unwrap() {
            out.push(c);
        }
        out
    }

    #[test]
    fn every_chunk_ends_on_a_record_boundary_at_any_size() {
        let input = b"a,b\n\"x\ny\",2\r\n3,\"q\"\"\"\r4,5";
        for size in 1..input.len() + 2 {
            let cs = chunks(input, size, 1 << 20);
            if size < 8 {
                assert!(cs.len() >= 3, "chunk size {size}: {} chunks", cs.len());
            }
            let joined: Vec<u8> = cs.iter().flat_map(|c| c.bytes.clone()).collect();
            assert_eq!(joined, input.to_vec(), "chunk size {size}");
            for c in &cs {
                let mut r = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(&c.bytes[..]);
                let n = r.byte_records().count();
                assert!(n >= 1, "chunk size {size}: empty chunk");
            }
            let lines: Vec<u64> = cs.iter().map(|c| c.first_line).collect();
            assert_eq!(lines[0], 1);
        }
    }

    #[test]
    fn an_unterminated_quote_is_broken_and_reading_resumes_on_the_next_line() {
        let input = b"h1,h2,h3\n1,2,3\n4,\"oops,6\n7,8,9\n10,11,12\n";
        let cs = chunks(input, 4, 1 << 20);
        let broken: Vec<&Broken> = cs.iter().filter_map(|c| c.broken.as_ref()).collect();
        assert_eq!(
            broken,
            vec![&Broken::Unterminated { row_line: 3, quote_line: 3, field: 1, swallowed: 2, to_end: true }]
        );
        let joined: Vec<u8> = cs.iter().flat_map(|c| c.bytes.clone()).collect();
        assert_eq!(joined, b"h1,h2,h3\n1,2,3\n7,8,9\n10,11,12\n".to_vec());
        let after = cs.iter().find(|c| c.bytes.starts_with(b"7")).unwrap();
        assert_eq!(after.first_line, 4);
    }

    #[test]
    fn a_quote_open_past_the_row_limit_is_broken() {
        let mut input = b"a,b\n\"".to_vec();
        input.extend(std::iter::repeat_n(b'x', 100));
        input.extend(b"\n1,2\n");
        let cs = chunks(&input, 8, 32);
        let broken: Vec<&Broken> = cs.iter().filter_map(|c| c.broken.as_ref()).collect();
        assert!(
            matches!(
                broken.as_slice(),
                [Broken::Unterminated { row_line: 2, quote_line: 2, field: 0, to_end: false, .. }]
            ),
            "{broken:?}"
        );
        let joined: Vec<u8> = cs.iter().flat_map(|c| c.bytes.clone()).collect();
        assert_eq!(joined, b"a,b\n1,2\n".to_vec());
    }

    #[test]
    fn a_bom_is_dropped_and_lines_count_lf_crlf_and_cr() {
        assert_eq!(line_breaks(b"a\nb\r\nc\rd"), 3);
        let cs = chunks(b"\xEF\xBB\xBFa\n", 16, 64);
        assert_eq!(cs[0].bytes, b"a\n".to_vec());
    }
}
