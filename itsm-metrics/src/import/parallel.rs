//! Reading one file's rows on several threads.
//!
//! The calling thread reads the input and splits it into chunks of whole
//! records (`split`); worker threads parse the chunks, then settle them in
//! file order, applying the repeated-id rule and reporting rejected rows (so
//! the report reads exactly as a sequential one): a chunk parsed before an
//! earlier one waits in a small queue, and the thread that settles the
//! earlier one settles it too, so no thread idles waiting for its turn. Each
//! settled chunk's records go to the caller's function with the settling
//! thread's own state (for example a metrics
//! [`Accumulator`](crate::Accumulator), merged at the end). Memory stays
//! bounded: a few chunks of about 1 MiB in flight per thread.

use std::collections::BTreeMap;
use std::io;
use std::sync::mpsc::sync_channel;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::split::Chunk;
use super::{Ids, ImportReport, Parsed, RejectedRow, Rows, read_failure};

/// Time spent in each stage of a parallel read. `read` is the reading
/// thread's (reading, decompressing and splitting); the others are summed
/// over the worker threads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stages {
    /// Reading, decompressing and splitting into chunks.
    pub read: Duration,
    /// Parsing rows into records.
    pub parse: Duration,
    /// The repeated-id rule and rejected-row reports, in file order (including
    /// waiting for the turn).
    pub order: Duration,
    /// The caller's function.
    pub process: Duration,
    /// Wall time of the whole read.
    pub wall: Duration,
}

/// What a parallel read returns.
#[derive(Debug)]
pub struct Outcome<S> {
    /// The workers' states, one per thread.
    pub states: Vec<S>,
    /// Counts, warnings and a fatal read error; the rejected rows went to the
    /// caller's reporting function (they are not kept here).
    pub report: ImportReport,
    /// Time per stage.
    pub stages: Stages,
}

/// The file-order state shared by the workers: the next chunk to settle, the
/// repeated-id rule, the counts, and the parsed chunks that wait for an
/// earlier one (at most `PENDING_PER_THREAD` per thread).
struct Turn<F, T> {
    next: u64,
    ids: Ids,
    report: ImportReport,
    rejected: F,
    pending: BTreeMap<u64, Vec<Parsed<T>>>,
}

/// Parsed chunks a thread may leave waiting for an earlier chunk before it
/// waits itself (bounds memory when one thread is slow).
const PENDING_PER_THREAD: usize = 4;

impl<R: io::Read + Send, T: Send> Rows<R, T> {
    /// Reads the remaining rows on one worker thread per state in `states`
    /// (at least one), calling `each` with a worker's state and a chunk's
    /// accepted records with their physical lines, and `rejected` with every
    /// rejected row, in file order, from one thread at a time. The counts
    /// reconcile as in a sequential read: every row is accepted or rejected.
    pub fn par_for_each<S: Send>(
        mut self,
        mut states: Vec<S>,
        each: impl Fn(&mut S, Vec<(u64, T)>) + Sync,
        rejected: impl FnMut(&RejectedRow) + Send,
    ) -> Outcome<S> {
        let started = Instant::now();
        let mut stages = Stages::default();
        let mut report = std::mem::take(&mut self.report);
        report.errors.clear();
        let mut rejected = rejected;
        if states.is_empty() {
            return Outcome { states, report, stages };
        }
        // Rows already queued by the sequential iterator go first.
        let queued: Vec<(u64, T)> = self
            .queue
            .drain(..)
            .filter_map(|row| match row {
                Ok(record) => {
                    report.accepted += 1;
                    Some(record)
                }
                Err(row) => {
                    report.rejected += 1;
                    rejected(&row);
                    None
                }
            })
            .collect();
        if !queued.is_empty()
            && let Some(first) = states.first_mut()
        {
            each(first, queued);
        }
        let first = self.first.take();
        let next = first.as_ref().map_or(self.splitter.next_index(), |c| c.index);
        let turn =
            Mutex::new(Turn { next, ids: std::mem::take(&mut self.ids), report, rejected, pending: BTreeMap::new() });
        let turned = Condvar::new();
        let workers = states.len();
        let (tx, rx) = sync_channel::<Chunk>(workers * 2);
        let rx = Mutex::new(rx);
        let schema = &self.schema;
        let mut fatal = None;
        let results = std::thread::scope(|scope| {
            let handles: Vec<_> = states
                .into_iter()
                .map(|mut state| {
                    let (rx, turn, turned, each) = (&rx, &turn, &turned, &each);
                    scope.spawn(move || {
                        let mut times = Stages::default();
                        let mut parsed = Vec::new();
                        loop {
                            let chunk = match rx.lock().unwrap_or_else(PoisonError::into_inner).recv() {
                                Ok(chunk) => chunk,
                                Err(_) => break,
                            };
                            let t0 = Instant::now();
                            schema.parse_chunk(&chunk, &mut parsed);
                            let t1 = Instant::now();
                            // Settle, in file order, this chunk and every parsed chunk that
                            // waited for it; a chunk that comes early waits in `pending` (the
                            // thread goes on with the next one) unless too many wait already.
                            let mut batches = Vec::new();
                            {
                                let mut guard = turn.lock().unwrap_or_else(PoisonError::into_inner);
                                while guard.next != chunk.index && guard.pending.len() >= workers * PENDING_PER_THREAD {
                                    guard = turned.wait(guard).unwrap_or_else(PoisonError::into_inner);
                                }
                                let Turn { ids, report, rejected, next, pending } = &mut *guard;
                                pending.insert(chunk.index, std::mem::take(&mut parsed));
                                while let Some(rows) = pending.remove(next) {
                                    let mut accepted = Vec::with_capacity(rows.len());
                                    ids.settle(schema, rows, |row| match row {
                                        Ok(record) => {
                                            report.accepted += 1;
                                            accepted.push(record);
                                        }
                                        Err(row) => {
                                            report.rejected += 1;
                                            rejected(&row);
                                        }
                                    });
                                    batches.push(accepted);
                                    *next += 1;
                                }
                                turned.notify_all();
                            }
                            let t2 = Instant::now();
                            for accepted in batches {
                                each(&mut state, accepted);
                            }
                            let t3 = Instant::now();
                            times.parse += t1 - t0;
                            times.order += t2 - t1;
                            times.process += t3 - t2;
                        }
                        (state, times)
                    })
                })
                .collect();
            let mut pending = first;
            loop {
                let t = Instant::now();
                let chunk = match pending.take() {
                    Some(chunk) => chunk,
                    None => match self.splitter.next_chunk() {
                        Ok(Some(chunk)) => chunk,
                        Ok(None) => break,
                        Err(e) => {
                            fatal = Some(read_failure(&schema.file, self.splitter.line(), &e));
                            break;
                        }
                    },
                };
                stages.read += t.elapsed();
                if tx.send(chunk).is_err() {
                    break;
                }
            }
            drop(tx);
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                .collect::<Vec<_>>()
        });
        let mut states = Vec::with_capacity(results.len());
        for (state, times) in results {
            stages.parse += times.parse;
            stages.order += times.order;
            stages.process += times.process;
            states.push(state);
        }
        let turn = turn.into_inner().unwrap_or_else(PoisonError::into_inner);
        let mut report = turn.report;
        if fatal.is_some() {
            report.fatal = fatal;
        }
        stages.wall = started.elapsed();
        Outcome { states, report, stages }
    }
}

/// The number of worker threads to use: the available cores.
pub fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}
