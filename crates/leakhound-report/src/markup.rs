//! Small pieces of HTML and SVG markup shared by the report, the flame graph and the sites
//! table.

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A 100x20 inline sparkline.
pub fn sparkline_svg(v: &[f64]) -> String {
    if v.len() < 2 {
        return String::new();
    }
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = (hi - lo).max(f64::MIN_POSITIVE);
    let pts: Vec<String> = v
        .iter()
        .enumerate()
        .map(|(i, y)| {
            format!(
                "{:.1},{:.1}",
                100.0 * i as f64 / (v.len() - 1) as f64,
                19.0 - 18.0 * (y - lo) / span
            )
        })
        .collect();
    format!(
        "<svg class=\"spark\" width=\"100\" height=\"20\" viewBox=\"0 0 100 20\"><polyline fill=\"none\" stroke=\"#555\" stroke-width=\"1\" points=\"{}\"/></svg>",
        pts.join(" ")
    )
}
