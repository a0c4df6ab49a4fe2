//! Native allocation sites: the lines the preload library (`leakhound-preload`) sends on the
//! agent socket, and their symbolization, done here in leakhound rather than in the target
//! (which only walks its stack and sends return addresses with its executable mappings).
//!
//! Symbolization uses `addr2line` (on `gimli` and `object`): function names with file and
//! line from the module's DWARF, inlined calls as frames of their own, the ELF symbol table
//! (with symbol sizes; a stripped library's separate debug file, found by build id, for its
//! local functions) where there is no debug information, and the module name and offset
//! otherwise. Code outside any file (V8's JIT) is
//! named from `/tmp/perf-PID.map` when the program writes one (`node --perf-basic-prof`), else
//! `[JIT]`. Everything is cached per module (by device and inode) and per address.
//!
//! Why addr2line and not blazesym: both symbolize ELF/DWARF equally well for this use, but
//! addr2line 0.25 builds in 22 s of CPU (debug) against 29 s for blazesym 0.2.7 (measured
//! here, clean, 2 cores), keeps the workspace's rust-version (blazesym 0.2 needs 1.88), and
//! the process-level features blazesym adds (reading /proc/PID/maps, perf maps) are a few
//! lines here, working from the module map the target sent, so a report of a process that
//! has since exited still symbolizes.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::python::PythonCodes;
use crate::sites::{SiteSample, SitesReport, MAX_FRAMES, MAX_SITES};

pub use leakhound_wire::lines::read::{Mapping, NativeMaps, NativeSite, NativeSites};

fn finite(v: f64) -> bool {
    v.is_finite() && v >= 0.0
}

/// Parses a `native_maps` line.
pub fn parse_native_maps(line: &str) -> Result<NativeMaps, String> {
    let m: NativeMaps = serde_json::from_str(line).map_err(|e| format!("bad native maps: {e}"))?;
    if m.pid <= 0 || m.modules.len() > 100_000 {
        return Err("bad native maps: pid or number of mappings".into());
    }
    if m.modules
        .iter()
        .any(|x| x.start >= x.end || x.path.len() > 4096)
    {
        return Err("bad native maps: a mapping's range or path".into());
    }
    Ok(m)
}

/// Parses a `native_sites` line.
pub fn parse_native_sites(line: &str) -> Result<NativeSites, String> {
    let s: NativeSites =
        serde_json::from_str(line).map_err(|e| format!("bad native sites: {e}"))?;
    if s.pid <= 0 || !s.t.is_finite() || !finite(s.sampling_bytes) {
        return Err("bad native sites: pid, time or sampling".into());
    }
    if !finite(s.other_bytes) || !finite(s.other_objects) || s.sites.len() > MAX_SITES {
        return Err("bad native sites: remainder or number of sites".into());
    }
    if s.sites
        .iter()
        .any(|x| !finite(x.bytes) || !finite(x.objects) || x.frames.len() > MAX_FRAMES)
    {
        return Err("bad native sites: a site's numbers or frames".into());
    }
    Ok(s)
}

/// A loadable segment of an ELF file: where its bytes are in the file and in memory.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Load {
    offset: u64,
    filesz: u64,
    vaddr: u64,
}

/// What the program headers of an ELF file say.
#[derive(Debug, Clone, PartialEq)]
struct Elf {
    loads: Vec<Load>,
    /// Has a program interpreter (the dynamic loader), so LD_PRELOAD applies to it.
    interp: bool,
}

/// Reads the program headers of a 64-bit little-endian ELF file (x86-64, aarch64), or `None`
/// for anything else.
fn read_elf(file: &File) -> Option<Elf> {
    let mut h = [0u8; 64];
    file.read_exact_at(&mut h, 0).ok()?;
    // Magic, 64-bit class, little-endian.
    if h[..4] != *b"\x7fELF" || h[4] != 2 || h[5] != 1 {
        return None;
    }
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
    let u32_at = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap_or([0; 4]));
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or([0; 8]));
    let phoff = u64_at(&h, 0x20);
    let phentsize = usize::from(u16_at(&h, 0x36));
    let phnum = usize::from(u16_at(&h, 0x38));
    if phentsize < 56 || phnum > 4096 {
        return None;
    }
    let mut table = vec![0u8; phentsize * phnum];
    file.read_exact_at(&mut table, phoff).ok()?;
    let mut elf = Elf {
        loads: Vec::new(),
        interp: false,
    };
    for ph in table.chunks_exact(phentsize) {
        match u32_at(ph, 0) {
            // PT_LOAD
            1 => elf.loads.push(Load {
                offset: u64_at(ph, 8),
                vaddr: u64_at(ph, 16),
                filesz: u64_at(ph, 32),
            }),
            // PT_INTERP
            3 => elf.interp = true,
            _ => {}
        }
    }
    Some(elf)
}

/// Whether LD_PRELOAD can reach the program at `path`: `Some(false)` for a statically linked
/// ELF executable (no dynamic loader), `None` when it is not an ELF file (a script, whose
/// interpreter decides) or cannot be read.
pub fn is_dynamically_linked(path: &Path) -> Option<bool> {
    let file = File::open(path).ok()?;
    read_elf(&file).map(|e| e.interp)
}

/// Cuts a long (C++ template) name to a readable length at a character boundary.
fn clip(mut s: String) -> String {
    const MAX: usize = 400;
    if s.len() > MAX {
        let mut cut = MAX;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// A demangled C++ name without its parameter list and qualifiers:
/// `v8::internal::Heap::Allocate(std::function<void* (unsigned long)> const&, unsigned long)
/// const [clone .part.0]` becomes `v8::internal::Heap::Allocate`. Overloads then share a
/// frame; in exchange stacks are readable, and a node stack takes a third of the memory.
fn without_parameters(name: &str) -> &str {
    let mut s = name.trim_end();
    loop {
        let before = s;
        if let Some(i) = s.rfind(" [clone ").filter(|_| s.ends_with(']')) {
            s = s[..i].trim_end();
        }
        for q in [" const", " volatile", " &&", " &"] {
            s = s.strip_suffix(q).unwrap_or(s).trim_end();
        }
        if s == before {
            break;
        }
    }
    if !s.ends_with(')') {
        return name;
    }
    let mut depth = 0i32;
    for (i, c) in s.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' => {
                depth -= 1;
                if depth == 0 {
                    return if i == 0 { name } else { &s[..i] };
                }
            }
            _ => {}
        }
    }
    name
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The extent [start, end) of a function symbol.
type Extent = (u64, u64);

/// The function symbols of an ELF file: their extents, sorted, their names when asked (else
/// empty), and the file's build id.
///
/// Names of the module itself come from addr2line's symbol map, which has no sizes: without
/// the extents, an address in a local function of a stripped library would take the name of
/// the exported function before it. (Extents only, 16 bytes a symbol: node has 200,000.)
fn function_symbols(file: &File, names: bool) -> (Vec<Extent>, Vec<Box<str>>, Option<Vec<u8>>) {
    use object::{Object, ObjectSymbol, SymbolKind};
    let cache = object::ReadCache::new(file);
    let Ok(obj) = object::File::parse(&cache) else {
        return (Vec::new(), Vec::new(), None);
    };
    let mut syms: Vec<(Extent, Box<str>)> = obj
        .symbols()
        .chain(obj.dynamic_symbols())
        .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0 && s.address() > 0)
        .map(|s| {
            let name = if names { s.name().unwrap_or("??") } else { "" };
            ((s.address(), s.address() + s.size()), name.into())
        })
        .collect();
    syms.sort_unstable_by_key(|s| s.0);
    syms.dedup_by_key(|s| s.0 .0);
    let (extents, names): (Vec<Extent>, Vec<Box<str>>) = syms.into_iter().unzip();
    let names = if names.iter().all(|n| n.is_empty()) {
        Vec::new()
    } else {
        names
    };
    let build_id = obj.build_id().ok().flatten().map(<[u8]>::to_vec);
    (extents, names, build_id)
}

/// The separate debug file of a build id (Debian's `-dbg` and `-dbgsym` packages), if
/// installed, seen from the target's root first.
fn debug_file(root: &Path, build_id: &[u8]) -> Option<PathBuf> {
    let hex: String = build_id.iter().map(|b| format!("{b:02x}")).collect();
    if hex.len() < 3 {
        return None;
    }
    let rel = format!("usr/lib/debug/.build-id/{}/{}.debug", &hex[..2], &hex[2..]);
    [root.join(&rel), Path::new("/").join(&rel)]
        .into_iter()
        .find(|p| p.is_file())
}

/// A module's symbols: its DWARF and symbol table (or, for a stripped library with a separate
/// debug file, that file's symbol table), and where its segments load.
struct ModuleSymbols {
    loader: Option<addr2line::Loader>,
    extents: Vec<Extent>,
    /// Names of `extents` when they come from a separate debug file. Only its symbols are
    /// read: its DWARF (libc's) would cost 33 MB to load, for the file and line of C library
    /// internals.
    names: Vec<Box<str>>,
    loads: Vec<Load>,
    name: String,
}

impl ModuleSymbols {
    fn open(path: &Path, root: &Path, name: &str) -> Option<ModuleSymbols> {
        let file = File::open(path).ok()?;
        let elf = read_elf(&file)?;
        let (mut extents, _, build_id) = function_symbols(&file, false);
        let mut names = Vec::new();
        // The debug file keeps the local symbols a stripped library lost.
        if let Some(f) = build_id
            .and_then(|id| debug_file(root, &id))
            .and_then(|d| File::open(d).ok())
        {
            let (more, more_names, _) = function_symbols(&f, true);
            if more.len() > extents.len() && more_names.len() == more.len() {
                (extents, names) = (more, more_names);
            }
        }
        Some(ModuleSymbols {
            loader: addr2line::Loader::new(path).ok(),
            extents,
            names,
            loads: elf.loads,
            name: name.to_string(),
        })
    }

    /// The function symbol containing `vaddr`.
    fn symbol(&self, vaddr: u64) -> Option<String> {
        let i = self
            .extents
            .partition_point(|s| s.0 <= vaddr)
            .checked_sub(1)?;
        let (start, end) = *self.extents.get(i)?;
        if vaddr >= end {
            return None;
        }
        let mangled = match self.names.get(i) {
            Some(n) => n.as_ref(),
            None => {
                let sym = self.loader.as_ref()?.find_symbol_info(vaddr)?;
                if sym.address() < start {
                    return None;
                }
                sym.name()
            }
        };
        Some(without_parameters(&addr2line::demangle_auto(mangled.into(), None)).to_string())
    }

    /// The frames (inlined calls first) at the return address at `file_offset`.
    fn frames(&self, file_offset: u64) -> Vec<String> {
        let here = || format!("{}+{file_offset:#x}", self.name);
        let Some(vaddr) = self
            .loads
            .iter()
            .find(|l| file_offset >= l.offset && file_offset - l.offset < l.filesz)
            .map(|l| file_offset - l.offset + l.vaddr)
        else {
            return vec![here()];
        };
        // A return address follows the call: look up the call instruction itself.
        let probe = vaddr.saturating_sub(1);
        let mut out = Vec::new();
        if let Some(Ok(mut frames)) = self.loader.as_ref().map(|l| l.find_frames(probe)) {
            while let Ok(Some(f)) = frames.next() {
                let name = f
                    .function
                    .as_ref()
                    .and_then(|n| n.demangle().ok())
                    .map(|n| without_parameters(&n).to_string())
                    .or_else(|| self.symbol(probe))
                    .unwrap_or_else(|| "??".into());
                let place = match f.location.and_then(|l| Some((l.file?, l.line?))) {
                    Some((file, line)) => format!("{}:{line}", base_name(file)),
                    None => self.name.clone(),
                };
                out.push(clip(format!("{name} ({place})")));
            }
        }
        if out.is_empty() {
            out.push(match self.symbol(probe) {
                Some(name) => clip(format!("{name} ({})", self.name)),
                None => here(),
            });
        }
        out
    }
}

/// JIT code names from a perf map (`START SIZE NAME` lines in hex). The file only grows
/// while the process lives, so only what was appended since is read.
#[derive(Debug, Default)]
struct PerfMap {
    /// Bytes read: up to the end of the last whole line.
    read: u64,
    /// By start address; a later line for the same start replaces an earlier one (code
    /// moved or freed and reused).
    entries: BTreeMap<u64, (u64, String)>,
}

impl PerfMap {
    /// Adds the whole lines of `text` (read from offset `self.read`).
    fn add(&mut self, text: &[u8]) {
        let whole = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        for line in String::from_utf8_lossy(&text[..whole]).lines() {
            let mut f = line.splitn(3, ' ');
            let (Some(start), Some(size), Some(name)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            let (Ok(start), Ok(size)) = (
                u64::from_str_radix(start.trim_start_matches("0x"), 16),
                u64::from_str_radix(size.trim_start_matches("0x"), 16),
            ) else {
                continue;
            };
            self.entries
                .insert(start, (start.saturating_add(size), jit_name(name)));
        }
        self.read += whole as u64;
    }

    /// Reads what `path` gained since, starting over if it shrank (a new process, same pid).
    fn update(&mut self, path: &Path, len: u64) {
        if len < self.read {
            *self = PerfMap::default();
        }
        // Bounded: at most 64 MiB more per update.
        let want = (len - self.read).min(64 << 20) as usize;
        if want == 0 {
            return;
        }
        let mut buf = vec![0u8; want];
        if File::open(path)
            .and_then(|f| f.read_exact_at(&mut buf, self.read))
            .is_ok()
        {
            self.add(&buf);
        }
    }

    fn find(&self, addr: u64) -> Option<&str> {
        let (_, (end, name)) = self.entries.range(..=addr).next_back()?;
        (addr < *end).then_some(name.as_str())
    }
}

/// A V8 perf-map name as a frame: `JS:*leak /srv/app.js:22:14` becomes `leak (app.js:22)`;
/// builtins and stubs keep their name.
fn jit_name(raw: &str) -> String {
    let raw = raw.trim();
    let Some((kind, rest)) = raw.split_once(':') else {
        return clip(raw.to_string());
    };
    if !matches!(kind, "JS" | "LazyCompile" | "Function" | "Script") {
        return clip(raw.to_string());
    }
    // Optimisation tier markers: ~ interpreted/baseline, * optimised, ^ and + other tiers.
    let rest = rest.trim_start_matches(['~', '*', '^', '+']);
    let (name, place) = rest.split_once(' ').unwrap_or((rest, ""));
    let name = if name.is_empty() { "(anonymous)" } else { name };
    let place = place.trim().trim_start_matches("file://");
    // Drop the column: `path:line:column` -> `file:line`.
    let mut parts = place.rsplitn(3, ':');
    let (col, line, path) = (parts.next(), parts.next(), parts.next());
    let place = match (path, line, col) {
        (Some(p), Some(l), Some(_)) if l.parse::<u32>().is_ok() => {
            format!("{}:{l}", base_name(p))
        }
        _ if place.is_empty() => String::new(),
        _ => base_name(place).to_string(),
    };
    if place.is_empty() {
        clip(name.to_string())
    } else {
        clip(format!("{name} ({place})"))
    }
}

type FileId = (u64, u64);

/// Turns raw native stacks into frames. Caches modules and addresses, within bounds.
#[derive(Default)]
pub struct Symbolizer {
    modules: HashMap<FileId, Option<ModuleSymbols>>,
    frames: HashMap<(FileId, u64), Arc<[String]>>,
    perf_maps: HashMap<i32, PerfMap>,
}

impl std::fmt::Debug for Symbolizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Symbolizer")
            .field("modules", &self.modules.len())
            .field("frames", &self.frames.len())
            .finish()
    }
}

/// Most modules and addresses cached; beyond them the cache starts over.
const MAX_MODULES: usize = 512;
const MAX_CACHED_FRAMES: usize = 200_000;

/// Whether a mapping is code outside any file: JIT code.
fn anonymous(m: &Mapping) -> bool {
    m.path.is_empty() || m.path.starts_with("[anon") || m.path.starts_with("//anon")
}

impl Symbolizer {
    /// An empty symbolizer.
    pub fn new() -> Symbolizer {
        Symbolizer::default()
    }

    /// The sites report of a native report, with the mappings it refers to (and the Python
    /// functions, in a Python process): stacks become frames, stacks that symbolize alike are
    /// merged, and the largest come first.
    pub fn report(
        &mut self,
        maps: &NativeMaps,
        raw: &NativeSites,
        python: Option<&PythonCodes>,
    ) -> SitesReport {
        let mut sites: Vec<SiteSample> = Vec::new();
        let mut index: HashMap<Vec<String>, usize> = HashMap::new();
        let (mut other_bytes, mut other_objects) = (raw.other_bytes, raw.other_objects);
        for s in &raw.sites {
            let frames = self.stack(raw.pid, &maps.modules, &s.frames, python);
            if frames.is_empty() {
                other_bytes += s.bytes;
                other_objects += s.objects;
                continue;
            }
            match index.get(&frames) {
                Some(&i) => {
                    sites[i].bytes += s.bytes;
                    sites[i].objects += s.objects;
                }
                None => {
                    index.insert(frames.clone(), sites.len());
                    sites.push(SiteSample {
                        frames,
                        bytes: s.bytes,
                        objects: s.objects,
                    });
                }
            }
        }
        sites.sort_by(|a, b| b.bytes.total_cmp(&a.bytes));
        SitesReport {
            source: if python.is_some() { "python" } else { "native" }.into(),
            pid: raw.pid,
            t: raw.t,
            sampling_bytes: raw.sampling_bytes,
            sites,
            other_bytes,
            other_objects,
            // The profiler's cost is spread over every sampled allocation, not one profile.
            took_ms: None,
        }
    }

    /// The frames of one stack, innermost first. The stack ends at the first address outside
    /// every executable mapping (where a frame-pointer walk went astray).
    pub fn stack(
        &mut self,
        pid: i32,
        modules: &[Mapping],
        addrs: &[u64],
        python: Option<&PythonCodes>,
    ) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for &addr in addrs {
            if let Some(frame) = python.and_then(|p| p.frame(addr)) {
                out.push(frame);
                continue;
            }
            let i = modules.partition_point(|m| m.end <= addr);
            let Some(m) = modules.get(i).filter(|m| m.start <= addr) else {
                break;
            };
            if out.is_empty() && base_name(&m.path).starts_with("libleakhound_preload") {
                // The profiler's own frames, if the target could not leave them out.
                continue;
            }
            if anonymous(m) {
                let name = self.jit(pid, addr);
                if name != "[JIT]" || out.last().map(String::as_str) != Some("[JIT]") {
                    out.push(name);
                }
            } else if m.path.starts_with('[') {
                out.push(m.path.clone());
            } else {
                out.extend(self.file_frames(pid, m, addr).iter().cloned());
            }
            if out.len() >= MAX_FRAMES {
                out.truncate(MAX_FRAMES);
                break;
            }
        }
        out
    }

    fn file_frames(&mut self, pid: i32, m: &Mapping, addr: u64) -> Arc<[String]> {
        let path = m.path.trim_end_matches(" (deleted)");
        let name = base_name(path);
        let file_offset = addr - m.start + m.offset;
        // The target's own view of the file system first (containers), then ours.
        let root = PathBuf::from(format!("/proc/{pid}/root"));
        let in_target = PathBuf::from(format!("/proc/{pid}/root{path}"));
        let found = [in_target.as_path(), Path::new(path)]
            .into_iter()
            .find_map(|p| std::fs::metadata(p).ok().map(|md| (p.to_path_buf(), md)));
        let Some((file, md)) = found else {
            return Arc::from(vec![format!("{name}+{file_offset:#x}")]);
        };
        let id = (md.dev(), md.ino());
        if let Some(f) = self.frames.get(&(id, file_offset)) {
            return Arc::clone(f);
        }
        if self.modules.len() >= MAX_MODULES {
            self.modules.clear();
        }
        let module = self
            .modules
            .entry(id)
            .or_insert_with(|| ModuleSymbols::open(&file, &root, name));
        let frames: Arc<[String]> = match module {
            Some(m) => Arc::from(m.frames(file_offset)),
            None => Arc::from(vec![format!("{name}+{file_offset:#x}")]),
        };
        if self.frames.len() >= MAX_CACHED_FRAMES {
            self.frames.clear();
        }
        self.frames.insert((id, file_offset), Arc::clone(&frames));
        frames
    }

    /// The name of JIT code at `addr` from the process's perf map, or `[JIT]`.
    fn jit(&mut self, pid: i32, addr: u64) -> String {
        let candidates = [
            PathBuf::from(format!("/proc/{pid}/root/tmp/perf-{pid}.map")),
            PathBuf::from(format!("/tmp/perf-{pid}.map")),
        ];
        let Some((path, len)) = candidates
            .iter()
            .find_map(|p| std::fs::metadata(p).ok().map(|md| (p, md.len())))
        else {
            return "[JIT]".into();
        };
        if !self.perf_maps.contains_key(&pid) && self.perf_maps.len() >= 64 {
            self.perf_maps.clear();
        }
        self.perf_maps.entry(pid).or_default().update(path, len);
        self.perf_maps
            .get(&pid)
            .and_then(|m| m.find(addr))
            .map_or_else(|| "[JIT]".into(), str::to_string)
    }
}

#[cfg(test)]
mod tests;
