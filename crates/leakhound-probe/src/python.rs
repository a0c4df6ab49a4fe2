//! Python frames of the sampling profiler's stacks: the functions a Python process's profiler
//! numbered (`"type":"python_code"` lines, before the stacks that use them) and how a frame
//! is named, `function (file.py:line)`.
//!
//! Files are shown as the Python agent shows tracemalloc's: the standard library as
//! `<stdlib>/json/encoder.py` (so that a frame classifier tells it from the program's code
//! by that prefix alone), else relative to the process's working directory, else to the
//! longest `sys.path` entry (`requests/api.py` in site-packages), else as they are.

use std::collections::HashMap;

/// Most functions remembered per process; beyond them, new ones are named `?`.
pub const MAX_CODES: usize = 200_000;

/// The prefix of a standard-library file.
pub const STDLIB: &str = "<stdlib>/";

pub use leakhound_wire::lines::read::{Context, PythonCode};

/// Parses a `python_code` line.
pub fn parse_python_code(line: &str) -> Result<PythonCode, String> {
    let c: PythonCode = serde_json::from_str(line).map_err(|e| format!("bad python code: {e}"))?;
    if c.pid <= 0 || c.code.len() > MAX_CODES {
        return Err("bad python code: pid or number of functions".into());
    }
    if c.code
        .iter()
        .any(|(_, n, f)| n.len() > 1024 || f.len() > 4096)
    {
        return Err("bad python code: a name or file too long".into());
    }
    Ok(c)
}

/// The functions of one process.
#[derive(Debug, Default, Clone)]
pub struct PythonCodes {
    context: Context,
    names: HashMap<u64, (String, String)>,
}

impl PythonCodes {
    /// Takes in a `python_code` line of the process.
    pub fn add(&mut self, c: PythonCode) {
        self.context = c.context;
        for (id, name, file) in c.code {
            if self.names.len() < MAX_CODES || self.names.contains_key(&id) {
                let file = shown(&self.context, &file);
                self.names.insert(id, (name, file));
            }
        }
    }

    /// The frame a stack word names, if it is a Python frame.
    pub fn frame(&self, word: u64) -> Option<String> {
        let (id, line) = leakhound_wire::python::parse(word)?;
        Some(match self.names.get(&id) {
            Some((name, file)) => format!("{name} ({file}:{line})"),
            None => format!("? (?:{line})"),
        })
    }

    /// The CPython version the agent reported.
    pub fn version(&self) -> &str {
        &self.context.version
    }
}

/// How `file` is shown (see the module's rules).
pub fn shown(c: &Context, file: &str) -> String {
    if !c.stdlib.is_empty() {
        if let Some(rest) = file.strip_prefix(&c.stdlib) {
            if !rest
                .split('/')
                .any(|d| d == "site-packages" || d == "dist-packages")
            {
                return format!("{STDLIB}{rest}");
            }
        }
    }
    if let Some(rest) = file.strip_prefix(&c.cwd).filter(|_| !c.cwd.is_empty()) {
        return rest.to_string();
    }
    c.roots
        .iter()
        .filter(|r| !r.is_empty())
        .find_map(|r| file.strip_prefix(r.as_str()))
        .unwrap_or(file)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> Context {
        Context {
            version: "3.11.7".into(),
            cwd: "/srv/app/".into(),
            stdlib: "/usr/lib/python3.11/".into(),
            roots: vec![
                "/usr/lib/python3.11/site-packages/".into(),
                "/usr/lib/python3.11/".into(),
                "/srv/app/".into(),
            ],
        }
    }

    #[test]
    fn files_are_shown_by_where_they_are() {
        let c = context();
        assert_eq!(
            shown(&c, "/usr/lib/python3.11/json/encoder.py"),
            "<stdlib>/json/encoder.py"
        );
        assert_eq!(
            shown(&c, "/usr/lib/python3.11/site-packages/requests/api.py"),
            "requests/api.py"
        );
        assert_eq!(shown(&c, "/srv/app/pkg/server.py"), "pkg/server.py");
        assert_eq!(
            shown(&c, "<frozen importlib._bootstrap>"),
            "<frozen importlib._bootstrap>"
        );
        assert_eq!(shown(&c, "/opt/other.py"), "/opt/other.py");
        assert_eq!(shown(&Context::default(), "/a/b.py"), "/a/b.py");
    }

    #[test]
    fn lines_name_frames() {
        let line = r#"{"v":1,"type":"python_code","pid":9,"context":{"version":"3.11.7","cwd":"/srv/app/","stdlib":"/usr/lib/python3.11/","roots":[]},"unnamed":0,"code":[[1,"Cache.put","/srv/app/cache.py"],[2,"dumps","/usr/lib/python3.11/json/__init__.py"]]}"#;
        let mut codes = PythonCodes::default();
        codes.add(parse_python_code(line).unwrap());
        let word = leakhound_wire::python::frame(1, 42);
        assert_eq!(codes.frame(word).unwrap(), "Cache.put (cache.py:42)");
        assert_eq!(
            codes.frame(leakhound_wire::python::frame(2, 231)).unwrap(),
            "dumps (<stdlib>/json/__init__.py:231)"
        );
        assert_eq!(
            codes.frame(leakhound_wire::python::frame(3, 7)).unwrap(),
            "? (?:7)"
        );
        assert_eq!(codes.frame(0x7f00_0000_1000), None);
        assert_eq!(codes.version(), "3.11.7");
        assert!(parse_python_code(&line.replace("\"pid\":9", "\"pid\":0")).is_err());
    }
}
