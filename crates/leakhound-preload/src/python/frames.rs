//! The calling thread's Python frames, read where CPython keeps them, from inside an
//! allocation: nothing here allocates, locks, or calls back into Python.
//!
//! **Why the memory read is alive.** Only the calling thread's own state is read, while that
//! thread is inside an allocation function (called by the interpreter or by a C extension),
//! so none of it runs or changes meanwhile:
//! - its thread state comes from `PyGILState_GetThisThreadState` (a thread-specific key,
//!   cleared by CPython before the state is freed);
//! - `tstate->cframe` is the thread state's own root frame or a `_PyCFrame` on this thread's
//!   C stack, in an evaluation that is still running;
//! - the `_PyInterpreterFrame`s of `current_frame -> previous` are on this thread's frame
//!   stack, or inside a generator this thread is running (kept alive by its caller); CPython
//!   pushes and pops them only on this thread, and unlinks a frame before clearing it;
//! - each frame holds a strong reference to its code object, and the code object to its
//!   name, file name and line table.
//!
//! Other threads never change another thread's frames, whether this one holds the GIL (the
//! object and mem domains) or not (a C extension's malloc with the GIL released). Every
//! object is checked against its type (`PyCode_Type`, `PyUnicode_Type`, `PyBytes_Type`)
//! before its fields are read, and walks are bounded, so a layout that does not match (which
//! the agent's self-test rules out before any hook is installed) gives no frame rather than
//! nonsense.

use super::layout::{Api, Layout};

/// Most frames walked per stack (a deeper Python stack is cut, its outermost frames lost).
pub const MAX_WALK: usize = 512;

/// An address the profiler reads while it takes a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Live(usize);

impl Live {
    /// `addr`, unless null.
    ///
    /// # Safety
    /// `addr` is the address of a structure of the calling thread's interpreter state (per
    /// the module's list: its thread state, a `_PyCFrame`, an interpreter frame, or an object
    /// one of them references), which stays allocated and unchanged while the sample is
    /// taken, and is read only at offsets of that structure's layout.
    pub unsafe fn new(addr: usize) -> Option<Live> {
        (addr != 0).then_some(Live(addr))
    }

    /// The address.
    pub fn addr(self) -> usize {
        self.0
    }

    fn word(self, offset: usize) -> usize {
        // SAFETY: `Live`'s invariant: a field of a live structure of this thread's interpreter
        // state, aligned as CPython lays it out.
        unsafe { ((self.0 + offset) as *const usize).read() }
    }

    fn byte(self, offset: usize) -> u8 {
        // SAFETY: as in `word`.
        unsafe { ((self.0 + offset) as *const u8).read() }
    }

    fn u32_at(self, offset: usize) -> u32 {
        // SAFETY: as in `word`.
        unsafe { ((self.0 + offset) as *const u32).read() }
    }

    fn i32_at(self, offset: usize) -> i32 {
        // SAFETY: as in `word`.
        unsafe { ((self.0 + offset) as *const i32).read() }
    }

    fn field(self, offset: usize) -> Option<Live> {
        // SAFETY: the fields followed are pointers CPython keeps alive while this one is
        // (see the module's list).
        unsafe { Live::new(self.word(offset)) }
    }

    /// `len` bytes at `offset`, inside the structure.
    fn bytes(self, offset: usize, len: usize) -> &'static [u8] {
        // SAFETY: the caller read `len` from the object itself (a bytes object's size or a
        // string's length times its character width), so the bytes are the object's own,
        // alive while the sample is taken (the slice does not outlive it: see `Live`).
        unsafe { std::slice::from_raw_parts((self.0 + offset) as *const u8, len) }
    }
}

/// One Python frame as read: its code object and the line it runs.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    /// The code object (type-checked).
    pub code: Live,
    /// The line being run (0: unknown).
    pub line: u32,
}

/// One step of a walk: the frame (`None` when it has not started running its code, or is not
/// a code object's) and whether it is the first frame of its evaluation, entered from C.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// The frame, when there is one to show.
    pub frame: Option<Frame>,
    /// The frame an evaluation (`_PyEval_EvalFrameDefault`) started with.
    pub entry: bool,
}

/// The calling thread's Python frames, innermost first.
pub struct Walk<'a> {
    api: &'a Api,
    next: Option<Live>,
    left: usize,
}

impl<'a> Walk<'a> {
    /// The frames of the calling thread (none when it has no thread state).
    pub fn this_thread(api: &'a Api) -> Walk<'a> {
        // SAFETY: PyGILState_GetThisThreadState takes no argument and only reads a
        // thread-specific key.
        let tstate = unsafe { (api.this_thread_state)() } as usize;
        let l = api.layout;
        // SAFETY: this thread's own thread state (see the module's list).
        let next = unsafe { Live::new(tstate) }
            .and_then(|t| t.field(l.ts_cframe))
            .and_then(|c| c.field(l.cframe_current));
        Walk {
            api,
            next,
            left: MAX_WALK,
        }
    }

    /// Whether the thread has Python frames left to walk.
    pub fn has_more(&self) -> bool {
        self.next.is_some() && self.left > 0
    }

    fn code(&self, frame: Live) -> Option<Live> {
        let code = frame.field(self.api.layout.frame_code)?;
        (code.word(self.api.layout.ob_type) == self.api.code_type).then_some(code)
    }
}

impl Iterator for Walk<'_> {
    type Item = Step;

    fn next(&mut self) -> Option<Step> {
        let f = self.next.filter(|_| self.left > 0)?;
        self.left -= 1;
        let l = self.api.layout;
        self.next = f.field(l.frame_previous);
        let entry = f.byte(l.frame_is_entry) != 0;
        let frame = self.code(f).and_then(|code| {
            // Saturating: nothing on a sampled allocation's path may panic (the hooks are
            // `extern "C"`, a panic would abort the program).
            let start = code.addr().saturating_add(l.code_instructions);
            let prev = f.word(l.frame_prev_instr);
            let first = code.i32_at(l.code_firstlineno);
            // A frame that has not reached its first traceable instruction is still being set
            // up (CPython's `_PyFrame_IsIncomplete`): no frame of the program yet.
            let traceable =
                start.saturating_add(2 * code.i32_at(l.code_firsttraceable).max(0) as usize);
            if f.byte(l.frame_owner) != l.owned_by_generator && prev < traceable {
                return None;
            }
            let line = if prev < start {
                first
            } else {
                let table = bytes_of(self.api, code.field(l.code_linetable)).unwrap_or(&[]);
                line_at(table, first, (prev - start) / 2)
            };
            Some(Frame {
                code,
                line: line.max(0) as u32,
            })
        });
        Some(Step { frame, entry })
    }
}

/// A bytes object's contents.
fn bytes_of(api: &Api, obj: Option<Live>) -> Option<&'static [u8]> {
    let obj = obj?;
    let l = api.layout;
    if obj.word(l.ob_type) != api.bytes_type {
        return None;
    }
    let len = obj.word(l.bytes_size) as isize;
    (0..1 << 24)
        .contains(&len)
        .then(|| obj.bytes(l.bytes_data, len as usize))
}

/// The line of the instruction at code unit `index` from a 3.11+ location table
/// (`co_linetable`, CPython's `Objects/locations.md`): entries of `(first & 7) + 1` code
/// units, whose first byte has the top bit set and whose line moves by a delta that depends
/// on the entry's kind. 0 when the instruction has no line or lies past the table.
pub fn line_at(table: &[u8], first_line: i32, index: usize) -> i32 {
    let mut line = first_line;
    let mut end = 0usize;
    let mut i = 0usize;
    while i < table.len() {
        let head = table[i];
        let kind = (head >> 3) & 15;
        line = line.saturating_add(match kind {
            13 | 14 => signed_varint(&table[i + 1..]),
            10..=12 => i32::from(kind) - 10,
            _ => 0,
        });
        end += usize::from(head & 7) + 1;
        if index < end {
            // Kind 15: no location.
            return if kind == 15 { 0 } else { line };
        }
        i += 1;
        while i < table.len() && table[i] & 0x80 == 0 {
            i += 1;
        }
    }
    0
}

fn signed_varint(bytes: &[u8]) -> i32 {
    let mut value: u32 = 0;
    let mut shift = 0;
    for &b in bytes {
        value |= u32::from(b & 63).checked_shl(shift).unwrap_or(0);
        shift += 6;
        if b & 64 == 0 {
            break;
        }
    }
    let magnitude = (value >> 1) as i32;
    if value & 1 != 0 {
        -magnitude
    } else {
        magnitude
    }
}

/// A code object's qualified name and file name, as UTF-8 into `name` and `file`; their
/// lengths (0 when not a string this can read).
pub fn names(api: &Api, code: Live, name: &mut [u8], file: &mut [u8]) -> (usize, usize) {
    let l = api.layout;
    (
        copy_str(api, code.field(l.code_qualname), name),
        copy_str(api, code.field(l.code_filename), file),
    )
}

/// The first line of a code object.
pub fn first_line(layout: &Layout, code: Live) -> i32 {
    code.i32_at(layout.code_firstlineno)
}

/// Copies a string object's text as UTF-8 into `out`, cut at a character boundary; returns
/// the bytes written. Only compact strings (every string CPython makes for code objects).
fn copy_str(api: &Api, obj: Option<Live>, out: &mut [u8]) -> usize {
    let Some(s) = obj else {
        return 0;
    };
    let l = api.layout;
    if s.word(l.ob_type) != api.str_type {
        return 0;
    }
    let state = s.u32_at(l.str_state);
    let (kind, compact, ascii) = (
        (state >> 2) & 7,
        state & (1 << 5) != 0,
        state & (1 << 6) != 0,
    );
    let len = s.word(l.str_length) as isize;
    if !compact || !(0..1 << 20).contains(&len) {
        return 0;
    }
    let len = len as usize;
    if ascii {
        let n = len.min(out.len());
        out[..n].copy_from_slice(s.bytes(l.str_ascii_data, n));
        return n;
    }
    let width = kind as usize;
    if !matches!(width, 1 | 2 | 4) {
        return 0;
    }
    let data = s.bytes(l.str_compact_data, len * width);
    let mut n = 0;
    for unit in data.chunks_exact(width) {
        let cp = match width {
            1 => u32::from(unit[0]),
            2 => u32::from(u16::from_ne_bytes([unit[0], unit[1]])),
            _ => u32::from_ne_bytes([unit[0], unit[1], unit[2], unit[3]]),
        };
        let c = char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER);
        if n + c.len_utf8() > out.len() {
            break;
        }
        n += c.encode_utf8(&mut out[n..]).len();
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `co_linetable` and `co_firstlineno` of this function as CPython 3.11.7 compiled it,
    /// with the line of each code unit from `co_lines()`:
    ///
    /// ```python
    /// def f(a):        # line 10
    ///     x = [a]
    ///     for i in range(3):
    ///         x.append(i)
    ///
    ///
    ///     return x
    /// ```
    const TABLE: &[u8] = &[
        0x80, 0x00, 0xd8, 0x09, 0x0a, 0x88, 0x03, 0x80, 0x41, 0xdd, 0x0d, 0x12, 0x90, 0x31, 0x89,
        0x58, 0x8c, 0x58, 0xf0, 0x00, 0x01, 0x05, 0x14, 0xf0, 0x00, 0x01, 0x05, 0x14, 0x88, 0x01,
        0xd8, 0x08, 0x09, 0x8f, 0x08, 0x8a, 0x08, 0x90, 0x11, 0x89, 0x0b, 0x8c, 0x0b, 0x88, 0x0b,
        0x88, 0x0b, 0xf0, 0x06, 0x00, 0x0c, 0x0d, 0x80, 0x48,
    ];

    #[test]
    fn lines_from_a_location_table() {
        // (first code unit, last code unit, line), from co_lines() (bytes / 2).
        let expected = [
            (0, 0, 10),
            (1, 3, 11),
            (4, 20, 12),
            (21, 42, 13),
            (43, 44, 16),
        ];
        for (from, to, line) in expected {
            for unit in from..=to {
                assert_eq!(line_at(TABLE, 10, unit), line, "code unit {unit}");
            }
        }
        assert_eq!(line_at(TABLE, 10, 1000), 0, "past the table");
        assert_eq!(line_at(&[], 10, 0), 0);
    }

    #[test]
    fn signed_varints() {
        assert_eq!(signed_varint(&[0x04]), 2);
        assert_eq!(signed_varint(&[0x05]), -2);
        // 100 = 0b1100100: low six bits 100100 with the continuation bit, then 1.
        assert_eq!(signed_varint(&[0x40 | 0x24, 0x01]), 50);
        assert_eq!(signed_varint(&[]), 0);
    }
}
