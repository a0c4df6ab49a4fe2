//! Where CPython keeps what the profiler reads, per version, and the interpreter's entry
//! points found in the running process.
//!
//! The offsets are those of CPython's own headers (`cpython/pystate.h`,
//! `internal/pycore_frame.h`, `cpython/code.h`, `cpython/unicodeobject.h`) for a 64-bit
//! release build; a test compiles a C program against the installed headers and compares.
//! A build whose layout differs (a debug build's object header) is caught before any hook is
//! installed: the agent compares the frames read here with `sys._getframe()` and falls back
//! to tracemalloc when they disagree.

use std::ffi::{c_int, c_void, CStr};
use std::sync::OnceLock;

/// Offsets (bytes) of the fields the profiler reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// `PyThreadState.cframe`.
    pub ts_cframe: usize,
    /// `_PyCFrame.current_frame`.
    pub cframe_current: usize,
    /// `_PyInterpreterFrame.f_code`.
    pub frame_code: usize,
    /// `_PyInterpreterFrame.previous`.
    pub frame_previous: usize,
    /// `_PyInterpreterFrame.prev_instr`.
    pub frame_prev_instr: usize,
    /// `_PyInterpreterFrame.is_entry`.
    pub frame_is_entry: usize,
    /// `_PyInterpreterFrame.owner`.
    pub frame_owner: usize,
    /// `FRAME_OWNED_BY_GENERATOR`.
    pub owned_by_generator: u8,
    /// `PyObject.ob_type`.
    pub ob_type: usize,
    /// `PyCodeObject.co_firstlineno`.
    pub code_firstlineno: usize,
    /// `PyCodeObject.co_filename`.
    pub code_filename: usize,
    /// `PyCodeObject.co_qualname`.
    pub code_qualname: usize,
    /// `PyCodeObject.co_linetable`.
    pub code_linetable: usize,
    /// `PyCodeObject._co_firsttraceable`.
    pub code_firsttraceable: usize,
    /// `PyCodeObject.co_code_adaptive`: the first instruction.
    pub code_instructions: usize,
    /// `PyASCIIObject.length`.
    pub str_length: usize,
    /// `PyASCIIObject.state`.
    pub str_state: usize,
    /// Where a compact ASCII string's characters start (`sizeof(PyASCIIObject)`).
    pub str_ascii_data: usize,
    /// Where another compact string's characters start (`sizeof(PyCompactUnicodeObject)`).
    pub str_compact_data: usize,
    /// `PyVarObject.ob_size` of a bytes object.
    pub bytes_size: usize,
    /// `PyBytesObject.ob_sval`.
    pub bytes_data: usize,
}

/// CPython 3.11 (x86-64 and aarch64).
const PY311: Layout = Layout {
    ts_cframe: 56,
    cframe_current: 8,
    frame_code: 32,
    frame_previous: 48,
    frame_prev_instr: 56,
    frame_is_entry: 68,
    frame_owner: 69,
    owned_by_generator: 1,
    ob_type: 8,
    code_firstlineno: 72,
    code_filename: 112,
    code_qualname: 128,
    code_linetable: 136,
    code_firsttraceable: 168,
    code_instructions: 184,
    str_length: 16,
    str_state: 32,
    str_ascii_data: 48,
    str_compact_data: 72,
    bytes_size: 16,
    bytes_data: 32,
};

/// The layout of the CPython whose `sys.hexversion` is `hexversion`, if known.
pub fn for_version(hexversion: u32) -> Option<&'static Layout> {
    if cfg!(not(target_pointer_width = "64")) {
        return None;
    }
    match hexversion >> 16 {
        0x030b => Some(&PY311),
        _ => None,
    }
}

/// One of CPython's allocators (`PyMemAllocatorEx`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Allocator {
    /// Passed to each function.
    pub ctx: *mut c_void,
    /// `malloc(ctx, size)`.
    pub malloc: unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void,
    /// `calloc(ctx, nelem, elsize)`.
    pub calloc: unsafe extern "C" fn(*mut c_void, usize, usize) -> *mut c_void,
    /// `realloc(ctx, ptr, new_size)`.
    pub realloc: unsafe extern "C" fn(*mut c_void, *mut c_void, usize) -> *mut c_void,
    /// `free(ctx, ptr)`.
    pub free: unsafe extern "C" fn(*mut c_void, *mut c_void),
}

/// `PYMEM_DOMAIN_MEM`: `PyMem_Malloc` and friends (called with the GIL held).
pub const DOMAIN_MEM: c_int = 1;
/// `PYMEM_DOMAIN_OBJ`: `PyObject_Malloc` and friends (called with the GIL held).
pub const DOMAIN_OBJ: c_int = 2;

type GetThreadState = unsafe extern "C" fn() -> *mut c_void;
type AllocatorFn = unsafe extern "C" fn(c_int, *mut Allocator);

/// What the profiler uses of the interpreter in this process.
#[derive(Debug, Clone, Copy)]
pub struct Api {
    /// The offsets of this version.
    pub layout: &'static Layout,
    /// `PyGILState_GetThisThreadState`: this thread's state, read from a thread-specific key
    /// (no lock, no allocation), or null.
    pub this_thread_state: GetThreadState,
    /// `PyMem_GetAllocator`.
    pub get_allocator: AllocatorFn,
    /// `PyMem_SetAllocator`.
    pub set_allocator: AllocatorFn,
    /// `&PyCode_Type`.
    pub code_type: usize,
    /// `&PyUnicode_Type`.
    pub str_type: usize,
    /// `&PyBytes_Type`.
    pub bytes_type: usize,
    /// The code of `_PyEval_EvalFrameDefault`, where native stacks enter Python code; (0, 0)
    /// when its size is unknown.
    pub eval: (usize, usize),
    /// The executable segment of the interpreter (the python executable or libpython).
    pub interpreter: (usize, usize),
}

/// Why the interpreter cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsupported {
    /// No layout for this version.
    Version,
    /// A function or type the profiler needs is not exported.
    Symbol,
}

static API: OnceLock<Result<Api, Unsupported>> = OnceLock::new();

/// The interpreter's entry points, resolved once (for the version the first caller gives).
pub fn api(hexversion: u32) -> Result<&'static Api, Unsupported> {
    API.get_or_init(|| resolve(hexversion))
        .as_ref()
        .map_err(|e| *e)
}

fn symbol(name: &CStr) -> Option<usize> {
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only reads the loader's tables.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!p.is_null()).then_some(p as usize)
}

/// `Elf64_Sym`, as `dladdr1(..., RTLD_DL_SYMENT)` returns it.
#[repr(C)]
struct Sym {
    name: u32,
    info: u8,
    other: u8,
    shndx: u16,
    value: u64,
    size: u64,
}

/// The address range of the function whose symbol starts at `addr`, if its size is known.
fn function_range(addr: usize) -> Option<(usize, usize)> {
    const RTLD_DL_SYMENT: c_int = 1;
    // SAFETY: an all-zero Dl_info (null pointers, zero) is a valid value of the C struct.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let mut sym: *mut c_void = std::ptr::null_mut();
    // SAFETY: dladdr1 fills the live locals `info` and `sym` for an address of a loaded object.
    let found =
        unsafe { libc::dladdr1(addr as *const c_void, &mut info, &mut sym, RTLD_DL_SYMENT) };
    if found == 0 || sym.is_null() {
        return None;
    }
    // SAFETY: with RTLD_DL_SYMENT, a non-null `sym` points to the symbol's ELF entry in the
    // object's dynamic symbol table, mapped as long as the object is loaded.
    let size = unsafe { sym.cast::<Sym>().read() }.size as usize;
    (size > 0 && info.dli_saddr as usize == addr).then_some((addr, addr + size))
}

fn resolve(hexversion: u32) -> Result<Api, Unsupported> {
    let layout = for_version(hexversion).ok_or(Unsupported::Version)?;
    let f = |name: &CStr| symbol(name).ok_or(Unsupported::Symbol);
    let this_thread_state = f(c"PyGILState_GetThisThreadState")?;
    let get_allocator = f(c"PyMem_GetAllocator")?;
    let set_allocator = f(c"PyMem_SetAllocator")?;
    let malloc = f(c"PyObject_Malloc")?;
    let eval = symbol(c"_PyEval_EvalFrameDefault")
        .and_then(function_range)
        .unwrap_or((0, 0));
    Ok(Api {
        layout,
        // SAFETY: the interpreter's exported function of this name has this C signature.
        this_thread_state: unsafe {
            std::mem::transmute::<usize, GetThreadState>(this_thread_state)
        },
        // SAFETY: as above.
        get_allocator: unsafe { std::mem::transmute::<usize, AllocatorFn>(get_allocator) },
        // SAFETY: as above.
        set_allocator: unsafe { std::mem::transmute::<usize, AllocatorFn>(set_allocator) },
        code_type: f(c"PyCode_Type")?,
        str_type: f(c"PyUnicode_Type")?,
        bytes_type: f(c"PyBytes_Type")?,
        eval,
        interpreter: crate::text_range(malloc),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A C program printing the offsets of [`Layout`]'s fields, in its order, as CPython's
    /// headers define them.
    const OFFSETS_C: &str = r#"
#define Py_BUILD_CORE 1
#include <Python.h>
#include <internal/pycore_frame.h>
#include <stdio.h>
#include <stddef.h>
int main(void) {
    printf("%zu %zu ", offsetof(PyThreadState, cframe), offsetof(_PyCFrame, current_frame));
    printf("%zu %zu %zu ", offsetof(_PyInterpreterFrame, f_code),
           offsetof(_PyInterpreterFrame, previous), offsetof(_PyInterpreterFrame, prev_instr));
    printf("%zu %zu %d ", offsetof(_PyInterpreterFrame, is_entry),
           offsetof(_PyInterpreterFrame, owner), (int)FRAME_OWNED_BY_GENERATOR);
    printf("%zu ", offsetof(PyObject, ob_type));
    printf("%zu %zu %zu ", offsetof(PyCodeObject, co_firstlineno),
           offsetof(PyCodeObject, co_filename), offsetof(PyCodeObject, co_qualname));
    printf("%zu %zu %zu ", offsetof(PyCodeObject, co_linetable),
           offsetof(PyCodeObject, _co_firsttraceable), offsetof(PyCodeObject, co_code_adaptive));
    printf("%zu %zu %zu %zu ", offsetof(PyASCIIObject, length), offsetof(PyASCIIObject, state),
           sizeof(PyASCIIObject), sizeof(PyCompactUnicodeObject));
    printf("%zu %zu\n", offsetof(PyVarObject, ob_size), offsetof(PyBytesObject, ob_sval));
    printf("%x\n", PY_VERSION_HEX);
    return 0;
}
"#;

    fn fields(l: &Layout) -> Vec<usize> {
        vec![
            l.ts_cframe,
            l.cframe_current,
            l.frame_code,
            l.frame_previous,
            l.frame_prev_instr,
            l.frame_is_entry,
            l.frame_owner,
            usize::from(l.owned_by_generator),
            l.ob_type,
            l.code_firstlineno,
            l.code_filename,
            l.code_qualname,
            l.code_linetable,
            l.code_firsttraceable,
            l.code_instructions,
            l.str_length,
            l.str_state,
            l.str_ascii_data,
            l.str_compact_data,
            l.bytes_size,
            l.bytes_data,
        ]
    }

    /// The layout of the python3 on PATH against its own headers, compiled here with gcc.
    #[test]
    fn offsets_match_the_installed_headers() {
        let include = std::process::Command::new("python3")
            .args([
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['include'])",
            ])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        let Some(include) = include.filter(|i| std::path::Path::new(i).join("Python.h").exists())
        else {
            assert!(
                std::env::var_os("CI").is_none(),
                "python3's headers are missing on CI (install python3-dev)"
            );
            eprintln!("skipped: no python3 headers (python3-dev)");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("offsets.c");
        std::fs::write(&src, OFFSETS_C).unwrap();
        let exe = dir.path().join("offsets");
        let cc = std::process::Command::new("gcc")
            .arg(format!("-I{include}"))
            .arg(&src)
            .arg("-o")
            .arg(&exe)
            .output()
            .expect("gcc");
        assert!(
            cc.status.success(),
            "{}",
            String::from_utf8_lossy(&cc.stderr)
        );
        let out = std::process::Command::new(&exe).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines();
        let got: Vec<usize> = lines
            .next()
            .unwrap()
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect();
        let hex = u32::from_str_radix(lines.next().unwrap(), 16).unwrap();
        let layout = for_version(hex).unwrap_or_else(|| panic!("no layout for {hex:x}"));
        assert_eq!(fields(layout), got, "CPython {hex:x}");
    }

    #[test]
    fn versions() {
        assert_eq!(for_version(0x030b07f0), Some(&PY311));
        assert_eq!(for_version(0x030b00f0), Some(&PY311));
        assert_eq!(for_version(0x030a0cf0), None);
        assert_eq!(for_version(0x030c00f0), None);
    }
}
