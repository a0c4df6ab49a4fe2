//! Field numbers of pprof's `profile.proto` (github.com/google/pprof/proto/profile.proto),
//! the format of Go's heap profiles, which leakhound reads (`leakhound-probe`), and of the
//! profiles it exports (`leakhound-report`). Both sides name fields by these constants.

/// `Profile`, the message a profile file holds (gzipped).
pub mod profile {
    /// `repeated ValueType sample_type`: what each value of a sample measures.
    pub const SAMPLE_TYPE: u32 = 1;
    /// `repeated Sample sample`.
    pub const SAMPLE: u32 = 2;
    /// `repeated Mapping mapping`.
    pub const MAPPING: u32 = 3;
    /// `repeated Location location`.
    pub const LOCATION: u32 = 4;
    /// `repeated Function function`.
    pub const FUNCTION: u32 = 5;
    /// `repeated string string_table`: every string of the profile; the first is "".
    pub const STRING_TABLE: u32 = 6;
    /// `int64 time_nanos`: when the profile was taken.
    pub const TIME_NANOS: u32 = 9;
    /// `int64 duration_nanos`: the span it covers.
    pub const DURATION_NANOS: u32 = 10;
    /// `int64 period`: the sampling period (Go: bytes between heap samples).
    pub const PERIOD: u32 = 12;
    /// `repeated int64 comment`: free-text notes (string indices).
    pub const COMMENT: u32 = 13;
    /// `int64 default_sample_type`: the sample type a viewer shows first (string index).
    pub const DEFAULT_SAMPLE_TYPE: u32 = 14;
}

/// `ValueType`: a sample value's type and unit (string indices).
pub mod value_type {
    /// `int64 type`.
    pub const TYPE: u32 = 1;
    /// `int64 unit`.
    pub const UNIT: u32 = 2;
}

/// `Sample`: one stack and its values.
pub mod sample {
    /// `repeated uint64 location_id`, innermost first.
    pub const LOCATION_ID: u32 = 1;
    /// `repeated int64 value`, one per sample type.
    pub const VALUE: u32 = 2;
    /// `repeated Label label`.
    pub const LABEL: u32 = 3;
}

/// `Label`: a key and a string value (string indices).
pub mod label {
    /// `int64 key`.
    pub const KEY: u32 = 1;
    /// `int64 str`.
    pub const STR: u32 = 2;
}

/// `Mapping`: a module of the program (an executable, a library) and what the profile knows
/// of its code.
pub mod mapping {
    /// `uint64 id`, not 0.
    pub const ID: u32 = 1;
    /// `int64 filename`.
    pub const FILENAME: u32 = 5;
    /// `bool has_functions`: locations are symbolized (a viewer need not).
    pub const HAS_FUNCTIONS: u32 = 7;
    /// `bool has_filenames`.
    pub const HAS_FILENAMES: u32 = 8;
    /// `bool has_line_numbers`.
    pub const HAS_LINE_NUMBERS: u32 = 9;
}

/// `Location`: a place in the program, one line per inlined function.
pub mod location {
    /// `uint64 id`, not 0.
    pub const ID: u32 = 1;
    /// `uint64 mapping_id`.
    pub const MAPPING_ID: u32 = 2;
    /// `uint64 address`.
    pub const ADDRESS: u32 = 3;
    /// `repeated Line line`, innermost inlined function first.
    pub const LINE: u32 = 4;
}

/// `Line`: a function and a line in it.
pub mod line {
    /// `uint64 function_id`.
    pub const FUNCTION_ID: u32 = 1;
    /// `int64 line`.
    pub const LINE: u32 = 2;
}

/// `Function`: a function's names and file (string indices).
pub mod function {
    /// `uint64 id`, not 0.
    pub const ID: u32 = 1;
    /// `int64 name`.
    pub const NAME: u32 = 2;
    /// `int64 system_name` (the mangled name).
    pub const SYSTEM_NAME: u32 = 3;
    /// `int64 filename`.
    pub const FILENAME: u32 = 4;
}
