//! `leakhound gc`: compact the database and apply a retention now.

use std::path::Path;

use leakhound_app::retention::{describe, gc};
use leakhound_report::units::format_bytes;

use crate::cli::{Format, GcArgs};
use crate::options::retention;

pub fn run(db: &Path, args: &GcArgs) -> anyhow::Result<bool> {
    let keep = retention(&args.retention)?;
    let c = gc(db, keep)?;
    if args.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&c)?);
        return Ok(false);
    }
    println!(
        "{}: compacted {} samples into chunks, summarized {} samples into {} floor windows ({} blocks rewritten)",
        c.database, c.upkeep.compacted, c.upkeep.summarized, c.upkeep.windows, c.upkeep.blocks
    );
    println!("{}", describe(keep));
    match &c.not_shrunk {
        Some(why) => println!("file not shrunk: {why}"),
        None => println!(
            "file: {} -> {}",
            format_bytes(c.bytes_before as f64),
            format_bytes(c.bytes_after as f64)
        ),
    }
    Ok(false)
}
