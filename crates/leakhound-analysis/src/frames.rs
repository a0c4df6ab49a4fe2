//! Frames of allocation stacks, read as a person fixing a leak reads them: which frame is the
//! user's code that allocated, past allocator and runtime frames (`operator new`, malloc, V8
//! builtins, Go's runtime and standard library, Python's standard library, the JDK).
//!
//! Every profiler writes a frame as `function (place)`, where the place is `file:line`, a
//! module (`libc.so.6`, for native code without debug information) or absent (V8 builtins).
//! One leak often shows as several stacks (two callers, V8's tiers, a helper inside it); the
//! **function** of a stack, its first frame of user code without the line, is what they share
//! and what a person fixes.

/// A frame split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The function, e.g. `rememberVisitor`, `app::Session::remember`, `main.leak`.
    pub function: &'a str,
    /// The file, when the place is `file:line` (`server.js`, `sites.c`).
    pub file: Option<&'a str>,
    /// The line, when known.
    pub line: Option<u32>,
    /// The module, when the place names one instead of a file (`libstdc++.so.6`).
    pub module: Option<&'a str>,
}

impl<'a> Frame<'a> {
    /// Splits `text`, written `function (file:line)`, `function (module)` or `function`.
    pub fn parse(text: &'a str) -> Frame<'a> {
        let text = text.trim();
        let split = text
            .strip_suffix(')')
            .and_then(|inner| inner.rfind(" (").map(|i| (&text[..i], &inner[i + 2..])));
        let Some((function, place)) = split.filter(|(f, _)| !f.is_empty()) else {
            return Frame {
                function: text,
                file: None,
                line: None,
                module: None,
            };
        };
        match place.rsplit_once(':') {
            Some((file, line)) if !file.is_empty() => match line.parse::<u32>() {
                Ok(line) => Frame {
                    function,
                    file: Some(file),
                    line: Some(line),
                    module: None,
                },
                Err(_) => Frame {
                    function,
                    file: Some(place),
                    line: None,
                    module: None,
                },
            },
            _ if looks_like_module(place) => Frame {
                function,
                file: None,
                line: None,
                module: Some(place),
            },
            _ => Frame {
                function,
                file: Some(place),
                line: None,
                module: None,
            },
        }
    }

    /// The function with its file or module, without the line: `rememberVisitor (server.js)`.
    pub fn function_key(&self) -> String {
        match self.file.or(self.module) {
            Some(place) => format!("{} ({place})", self.function),
            None => self.function.to_string(),
        }
    }
}

fn looks_like_module(place: &str) -> bool {
    place.contains(".so") || place.starts_with('[') || !place.contains('.')
}

/// The runtime a stack comes from: the `source` of its sites report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// V8's sampling heap profiler.
    Node,
    /// The native malloc profiler.
    Native,
    /// Go's heap or goroutine profile.
    Go,
    /// Python's allocation sites.
    Python,
    /// The JVM (Flight Recorder stacks, or class histograms).
    Jvm,
    /// Anything else: no frame is taken for the runtime's own.
    Other,
}

impl Runtime {
    /// The runtime of a sites report's `source` (`node`, `native`, `go`, `python`, `jvm`; a
    /// `go.goroutines`-like suffix names the same runtime).
    pub fn of(source: &str) -> Runtime {
        match source.split(['.', ':']).next().unwrap_or_default() {
            "node" => Runtime::Node,
            "native" => Runtime::Native,
            "go" => Runtime::Go,
            "python" => Runtime::Python,
            "jvm" | "java" => Runtime::Jvm,
            _ => Runtime::Other,
        }
    }
}

/// Allocator entry points and their C++ and Rust forms: never where a leak is fixed.
const ALLOCATORS: &[&str] = &[
    "malloc",
    "calloc",
    "realloc",
    "reallocarray",
    "free",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
    "valloc",
    "pvalloc",
    "strdup",
    "strndup",
    "wcsdup",
    "asprintf",
    "vasprintf",
    "operator new",
    "operator new[]",
    "_Znwm",
    "_Znam",
    "_ZnwmRKSt9nothrow_t",
    "_ZnamRKSt9nothrow_t",
    "_ZnwmSt11align_val_t",
    "__rust_alloc",
    "__rust_alloc_zeroed",
    "__rust_realloc",
    "__rdl_alloc",
    "__rdl_realloc",
    "__rg_alloc",
    "g_malloc",
    "g_malloc0",
    "g_realloc",
    "g_strdup",
];

/// Namespaces of C++ and Rust standard libraries (containers that allocate for their caller).
const NATIVE_LIBRARY_PREFIXES: &[&str] = &[
    "std::",
    "__gnu_cxx::",
    "__cxxabiv1::",
    "alloc::",
    "core::",
    "hashbrown::",
    "<alloc::",
    "<std::",
    "<core::",
    "<hashbrown::",
];

/// Shared libraries of the system's runtime (the C library, the C++ library, the loader, the
/// profiler itself), by the start of their file name.
const RUNTIME_MODULES: &[&str] = &[
    "libc.so",
    "libc-",
    "libstdc++.so",
    "libgcc_s.so",
    "libm.so",
    "ld-linux",
    "libpthread.so",
    "libleakhound_preload.so",
    "libglib-2.0.so",
];

/// Go's standard library, by the first element of a package path (user packages are `main`
/// or carry a domain, e.g. `github.com/...`; a module path without a dot is caught by this
/// list being exact).
const GO_STD: &[&str] = &[
    "archive",
    "bufio",
    "bytes",
    "cmp",
    "compress",
    "container",
    "context",
    "crypto",
    "database",
    "debug",
    "embed",
    "encoding",
    "errors",
    "expvar",
    "flag",
    "fmt",
    "go",
    "hash",
    "html",
    "image",
    "index",
    "internal",
    "io",
    "iter",
    "log",
    "maps",
    "math",
    "mime",
    "net",
    "os",
    "path",
    "plugin",
    "reflect",
    "regexp",
    "runtime",
    "slices",
    "sort",
    "strconv",
    "strings",
    "structs",
    "sync",
    "syscall",
    "testing",
    "text",
    "time",
    "unicode",
    "unique",
    "unsafe",
    "vendor",
    "weak",
    "golang.org/x",
];

/// The JDK's and common JVM languages' own packages.
const JVM_RUNTIME_PREFIXES: &[&str] = &[
    "java.", "javax.", "jdk.", "sun.", "com.sun.", "kotlin.", "scala.",
];

/// Whether `frame` belongs to the runtime or its allocator rather than to the user's code.
pub fn is_runtime_frame(runtime: Runtime, frame: &Frame) -> bool {
    let f = frame.function;
    if ALLOCATORS.contains(&f) || f.starts_with("operator new") {
        return true;
    }
    match runtime {
        Runtime::Native | Runtime::Other => native_runtime(frame),
        Runtime::Node => {
            // Builtins (`repeat`, `padStart`) and V8's own nodes have no script; Node's own
            // modules are `node:...`.
            (frame.file.is_none() && frame.module.is_none())
                || frame
                    .file
                    .or(frame.module)
                    .is_some_and(|p| p.starts_with("node:") || p.starts_with("internal/"))
                || native_runtime(frame)
        }
        Runtime::Go => go_std(f),
        Runtime::Python => python_runtime(frame),
        Runtime::Jvm => JVM_RUNTIME_PREFIXES.iter().any(|p| f.starts_with(p)),
    }
}

fn native_runtime(frame: &Frame) -> bool {
    let f = frame.function;
    // Identifiers the C and C++ standards reserve for the implementation (`__libc_malloc`,
    // `_IO_file_doallocate`, `_M_create`), the standard libraries' namespaces, and anything
    // in the system's runtime libraries.
    let reserved = f.starts_with("__")
        || (f.starts_with('_') && f[1..].starts_with(|c: char| c.is_ascii_uppercase()));
    reserved
        || NATIVE_LIBRARY_PREFIXES.iter().any(|p| f.starts_with(p))
        || frame
            .module
            .map(|m| m.rsplit('/').next().unwrap_or(m))
            .is_some_and(|m| RUNTIME_MODULES.iter().any(|r| m.starts_with(r)))
}

/// Whether a Go function (`strings.Repeat`, `encoding/json.(*decodeState).object`) is in the
/// standard library.
fn go_std(function: &str) -> bool {
    if function.starts_with("runtime.") || function == "runtime" {
        return true;
    }
    // The package path ends at the first dot after its last slash.
    let last_slash = function.rfind('/').map_or(0, |i| i + 1);
    let package_end = function[last_slash..]
        .find('.')
        .map_or(function.len(), |i| last_slash + i);
    let package = &function[..package_end];
    let first = package.split('/').next().unwrap_or(package);
    GO_STD.contains(&first)
        || GO_STD
            .iter()
            .any(|s| s.contains('/') && package.starts_with(s))
}

fn python_runtime(frame: &Frame) -> bool {
    // Frozen and generated code, and the standard library as the agent marks it.
    frame.function == "?"
        || frame
            .file
            .is_some_and(|f| f.starts_with('<') || f.starts_with("<stdlib>/"))
}

/// The frame a goroutine's stack ends with when its creator is known: `created by main.serve
/// (main.go:30)`. The function that starts leaking goroutines is what a person fixes.
pub const CREATED_BY: &str = "created by ";

/// The index of the allocating frame of `frames` (innermost first): the first frame of the
/// user's code, or the innermost frame when every frame is the runtime's. For a goroutine
/// whose creator is known, the creator.
pub fn allocating_frame(runtime: Runtime, frames: &[String]) -> usize {
    if let Some(i) = frames.iter().position(|f| f.starts_with(CREATED_BY)) {
        return i;
    }
    frames
        .iter()
        .position(|f| !is_runtime_frame(runtime, &Frame::parse(f)))
        .unwrap_or(0)
}

/// The allocating function of a stack, `name (file)`: what stacks of one leak share.
pub fn allocating_function(runtime: Runtime, frames: &[String]) -> Option<String> {
    let f = frames.get(allocating_frame(runtime, frames))?;
    Some(Frame::parse(f).function_key())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(frames: &[&str]) -> Vec<String> {
        frames.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn frames_are_split_into_function_file_line_or_module() {
        let f = Frame::parse("rememberVisitor (server.js:12)");
        assert_eq!(f.function, "rememberVisitor");
        assert_eq!(f.file, Some("server.js"));
        assert_eq!(f.line, Some(12));
        assert_eq!(f.function_key(), "rememberVisitor (server.js)");
        let f = Frame::parse("operator new (libstdc++.so.6)");
        assert_eq!(f.function, "operator new");
        assert_eq!(f.module, Some("libstdc++.so.6"));
        let f = Frame::parse("(anonymous) (lib/app.js:3)");
        assert_eq!((f.function, f.line), ("(anonymous)", Some(3)));
        let f = Frame::parse("(anonymous)");
        assert_eq!((f.function, f.file, f.module), ("(anonymous)", None, None));
        let f = Frame::parse("bytes.(*Buffer).grow (buffer.go:151)");
        assert_eq!(f.function, "bytes.(*Buffer).grow");
        let f = Frame::parse("repeat");
        assert_eq!(f.function_key(), "repeat");
        let f = Frame::parse("main (sites)");
        assert_eq!(f.module, Some("sites"));
        let f = Frame::parse("libfoo.so+0x1a2b");
        assert_eq!(f.function, "libfoo.so+0x1a2b");
        let f = Frame::parse("Leak.newSession (Leak.java:31)");
        assert_eq!((f.function, f.file), ("Leak.newSession", Some("Leak.java")));
    }

    #[test]
    fn the_allocating_function_is_past_allocator_and_runtime_frames() {
        let cases: &[(Runtime, &[&str], &str)] = &[
            (
                Runtime::Native,
                &[
                    "operator new (libstdc++.so.6)",
                    "asdf (leak.cpp:7)",
                    "main (leak.cpp:30)",
                ],
                "asdf (leak.cpp)",
            ),
            (
                Runtime::Native,
                &[
                    "std::__new_allocator<int>::allocate (new_allocator.h:151)",
                    "std::vector<int, std::allocator<int> >::_M_realloc_insert (vector.tcc:440)",
                    "keep (app.cpp:12)",
                ],
                "keep (app.cpp)",
            ),
            (
                Runtime::Native,
                &["__GI___strdup (strdup.c:42)", "remember_name (names.c:9)"],
                "remember_name (names.c)",
            ),
            (
                Runtime::Native,
                &["malloc (libleakhound_preload.so)", "leak_one (sites.c:23)"],
                "leak_one (sites.c)",
            ),
            (
                Runtime::Native,
                &[
                    "alloc::raw_vec::finish_grow (mod.rs:10)",
                    "<alloc::vec::Vec<T>>::push (vec.rs:3)",
                    "leaky::remember (lib.rs:40)",
                ],
                "leaky::remember (lib.rs)",
            ),
            (
                Runtime::Node,
                &[
                    "repeat",
                    "rememberVisitor (server.js:12)",
                    "onRequest (server.js:40)",
                ],
                "rememberVisitor (server.js)",
            ),
            (
                Runtime::Node,
                &["emit (node:events:517)", "keep (app.js:3)"],
                "keep (app.js)",
            ),
            (
                Runtime::Go,
                &[
                    "runtime.malg (proc.go:4460)",
                    "runtime.newproc1 (proc.go:4520)",
                    "strings.Repeat (strings.go:30)",
                    "main.rememberSession (main.go:29)",
                ],
                "main.rememberSession (main.go)",
            ),
            (
                Runtime::Go,
                &[
                    "encoding/json.(*decodeState).object (decode.go:700)",
                    "github.com/acme/api.(*Cache).Put (cache.go:12)",
                ],
                "github.com/acme/api.(*Cache).Put (cache.go)",
            ),
            (
                Runtime::Python,
                &[
                    "iterencode (<stdlib>/json/encoder.py:258)",
                    "remember (app.py:22)",
                ],
                "remember (app.py)",
            ),
            (
                Runtime::Jvm,
                &[
                    "java.util.Arrays.copyOf (Arrays.java:3537)",
                    "java.util.ArrayList.grow (ArrayList.java:237)",
                    "Leak.newSession (Leak.java:31)",
                ],
                "Leak.newSession (Leak.java)",
            ),
        ];
        for (runtime, frames, want) in cases {
            assert_eq!(
                allocating_function(*runtime, &stack(frames)).as_deref(),
                Some(*want),
                "{frames:?}"
            );
        }
        // A goroutine is named by the function that started it.
        assert_eq!(
            allocating_function(
                Runtime::of("go.goroutines"),
                &stack(&[
                    "runtime.gopark (proc.go:363)",
                    "runtime.chanrecv (chan.go:583)",
                    "main.worker (main.go:16)",
                    "runtime.goexit (asm_amd64.s:1594)",
                    "created by main.serve (main.go:30)",
                ])
            )
            .as_deref(),
            Some("created by main.serve (main.go)")
        );
        // Nothing but the runtime: the innermost frame speaks for the stack.
        assert_eq!(
            allocating_function(Runtime::Node, &stack(&["(program)"])).as_deref(),
            Some("(program)")
        );
        assert_eq!(allocating_function(Runtime::Go, &[]), None);
    }

    #[test]
    fn go_packages_with_a_domain_or_main_are_the_users() {
        assert!(go_std("strings.Repeat"));
        assert!(go_std("net/http.(*conn).serve"));
        assert!(go_std("golang.org/x/net/http2.(*Framer).ReadFrame"));
        assert!(!go_std("main.leak"));
        assert!(!go_std("github.com/acme/x.F"));
        assert!(!go_std("leaky/handlers.Keep"));
        assert_eq!(Runtime::of("go.goroutines"), Runtime::Go);
        assert_eq!(Runtime::of("native"), Runtime::Native);
        assert_eq!(Runtime::of("x"), Runtime::Other);
    }
}
