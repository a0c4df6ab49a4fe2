//! Python functions numbered as samples meet them: each code object seen in a sampled stack
//! gets an id, and its qualified name and file name are copied at that moment into memory of
//! the profiler's own, so a stack keeps its names after the code object is gone.
//!
//! **Why a code object is never read after it may be freed.** The table keys ids by the code
//! object's address, but an address is only a hint: a code object is read only while it runs
//! in the sampling thread (so it is alive, see `frames`), and an id found by address is used
//! only if its stored first line, name and file equal the live object's. Another code object
//! that later takes a freed one's address (CPython reuses freed blocks at once) therefore gets
//! a new id, unless it has the same name, file and first line, in which case it is the same
//! function as far as any frame can show.
//!
//! Bounds: up to [`MAX_CODES`] functions (names cut to 255 bytes, files to 1023), in tables
//! mapped once; beyond them frames read `?`. The lock is taken once per sample and never held
//! while anything else is: it is a leaf, like the site table's.

use std::sync::{Mutex, MutexGuard};

use super::frames::{self, Live};
use super::layout::Api;
use crate::tables::map;

/// Most functions numbered.
pub const MAX_CODES: usize = 1 << 15;
const SLOTS: usize = 2 * MAX_CODES;
/// Longest name and file kept, bytes.
pub const NAME_MAX: usize = 255;
/// See [`NAME_MAX`].
pub const FILE_MAX: usize = 1023;
const TEXT_BYTES: usize = 8 << 20;

#[repr(C)]
#[derive(Clone, Copy)]
struct Slot {
    /// The code object's address when it was numbered (0: empty).
    code: usize,
    /// Its id (index + 1 of its record).
    id: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Record {
    first_line: i32,
    name_len: u16,
    file_len: u16,
    /// Where the name starts in the text; the file follows it.
    text: u32,
}

// SAFETY: integers are valid when zero.
unsafe impl crate::tables::Zeroable for Slot {}
// SAFETY: as above.
unsafe impl crate::tables::Zeroable for Record {}

/// The numbered functions.
pub struct Codes {
    inner: Mutex<Inner>,
}

/// The locked tables.
pub struct Inner {
    slots: &'static mut [Slot],
    records: &'static mut [Record],
    len: usize,
    text: &'static mut [u8],
    text_len: usize,
    /// Frames left unnamed because the tables were full.
    pub unnamed: u64,
}

/// A function as the reporter sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// Its id.
    pub id: u32,
    /// Qualified name (`Class.method`).
    pub name: String,
    /// File name as the code object has it.
    pub file: String,
}

fn home(code: usize) -> usize {
    ((code as u64 >> 4).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SLOTS.trailing_zeros()))
        as usize
}

impl Codes {
    /// Maps the tables; `None` when the kernel refuses the memory.
    pub fn new() -> Option<Codes> {
        Some(Codes {
            inner: Mutex::new(Inner {
                slots: map::<Slot>(SLOTS)?,
                records: map::<Record>(MAX_CODES)?,
                len: 0,
                text: map::<u8>(TEXT_BYTES)?,
                text_len: 0,
                unnamed: 0,
            }),
        })
    }

    /// The locked tables (a poisoned lock is used as it is: nothing panics while holding it).
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    /// The id of the live code object `code` (0 when the tables are full).
    pub fn id(&mut self, api: &Api, code: Live) -> u32 {
        let mut name = [0u8; NAME_MAX];
        let mut file = [0u8; FILE_MAX];
        let (n, f) = frames::names(api, code, &mut name, &mut file);
        let first = frames::first_line(api.layout, code);
        let (name, file) = (&name[..n], &file[..f]);
        let mask = SLOTS - 1;
        let mut slot = home(code.addr());
        loop {
            let s = self.slots[slot];
            if s.code == 0 {
                break;
            }
            if s.code == code.addr() {
                if self.matches(s.id, first, name, file) {
                    return s.id;
                }
                // A new code object where a freed one was: renumber the address.
                break;
            }
            slot = (slot + 1) & mask;
        }
        let fresh = self.slots[slot].code == 0;
        if (fresh && self.len >= MAX_CODES * 3 / 4) || self.len >= MAX_CODES {
            self.unnamed += 1;
            return 0;
        }
        let Some(id) = self.add(first, name, file) else {
            self.unnamed += 1;
            return 0;
        };
        self.slots[slot] = Slot {
            code: code.addr(),
            id,
        };
        id
    }

    fn record(&self, id: u32) -> Option<(i32, &[u8], &[u8])> {
        let r = self.records.get((id as usize).checked_sub(1)?)?;
        let at = r.text as usize;
        let (n, f) = (usize::from(r.name_len), usize::from(r.file_len));
        Some((
            r.first_line,
            &self.text[at..at + n],
            &self.text[at + n..at + n + f],
        ))
    }

    fn matches(&self, id: u32, first: i32, name: &[u8], file: &[u8]) -> bool {
        self.record(id) == Some((first, name, file))
    }

    fn add(&mut self, first: i32, name: &[u8], file: &[u8]) -> Option<u32> {
        let at = self.text_len;
        let end = at + name.len() + file.len();
        if end > self.text.len() {
            return None;
        }
        self.text[at..at + name.len()].copy_from_slice(name);
        self.text[at + name.len()..end].copy_from_slice(file);
        self.text_len = end;
        self.records[self.len] = Record {
            first_line: first,
            name_len: name.len() as u16,
            file_len: file.len() as u16,
            text: at as u32,
        };
        self.len += 1;
        Some(self.len as u32)
    }

    /// How many functions are numbered (ids 1 to this).
    pub fn len(&self) -> usize {
        self.len
    }

    /// The functions numbered from id `from + 1` on, for the reporter (which allocates: it
    /// runs on the profiler's own thread).
    pub fn since(&self, from: usize) -> Vec<Named> {
        (from + 1..=self.len)
            .filter_map(|id| {
                let (_, name, file) = self.record(id as u32)?;
                Some(Named {
                    id: id as u32,
                    name: String::from_utf8_lossy(name).into_owned(),
                    file: String::from_utf8_lossy(file).into_owned(),
                })
            })
            .collect()
    }
}
