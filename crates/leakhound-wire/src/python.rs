//! How the profiler's stacks carry Python frames next to native return addresses.
//!
//! A stack is a list of 64-bit words, innermost first. A native frame is a return address;
//! user-space addresses on x86-64 and aarch64 are below 2^48, so the top bit is free to mark
//! a Python frame: the id of its code object (as the profiler numbered it, named in the
//! `python_code` lines that precede the stacks using it) and the line being executed.

/// The bit that marks a Python frame.
pub const TAG: u64 = 1 << 63;
/// Bits of the line number (lines beyond are shown as the largest).
const LINE_BITS: u32 = 24;
const LINE_MASK: u64 = (1 << LINE_BITS) - 1;
/// Largest code id a frame can carry.
pub const MAX_CODE_ID: u64 = (TAG >> LINE_BITS) - 1;

/// The word for a frame of code `id` at `line` (0: unknown).
pub const fn frame(id: u64, line: u32) -> u64 {
    let line = if line as u64 > LINE_MASK {
        LINE_MASK
    } else {
        line as u64
    };
    TAG | (id & MAX_CODE_ID) << LINE_BITS | line
}

/// The code id and line of a Python frame's word, or `None` for a native return address.
pub const fn parse(word: u64) -> Option<(u64, u32)> {
    if word & TAG == 0 {
        return None;
    }
    Some(((word & !TAG) >> LINE_BITS, (word & LINE_MASK) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_never_look_like_addresses() {
        assert_eq!(parse(frame(7, 42)), Some((7, 42)));
        assert_eq!(parse(frame(MAX_CODE_ID, 0)), Some((MAX_CODE_ID, 0)));
        assert_eq!(parse(frame(1, u32::MAX)), Some((1, LINE_MASK as u32)));
        assert_eq!(parse(0x7fff_ffff_f000), None);
    }
}
