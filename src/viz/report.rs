//! `report.html`: one self-contained page (every image embedded as a data URI,
//! no external URL) with the run's configuration, its metrics and every figure.

use std::path::Path;

use crate::error::{Error, Result};
use crate::files::write_atomic;

/// One figure on the page: a file in the output folder and what it shows.
pub struct ReportFigure {
    pub file: String,
    pub title: String,
    pub explanation: String,
}

/// Everything the page shows. `metrics` rows are already formatted cells.
pub struct Report<'a> {
    pub title: &'a str,
    pub summary_lines: Vec<String>,
    pub config_json: String,
    pub metrics_header: Vec<String>,
    pub metrics: Vec<Vec<String>>,
    pub figures: Vec<ReportFigure>,
    /// An interactive section placed after the figures (HTML, with its own
    /// inline script and style), or empty.
    pub explorer: String,
}

/// Writes `report.html` into `out_dir`, reading each figure from `out_dir`.
pub fn write_report(out_dir: &Path, report: &Report) -> Result<()> {
    let mut html = String::new();
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    // Nothing may leave the page: no request, only inline script and style, data: images.
    html.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">\n");
    html.push_str(&format!("<title>{}</title>\n", escape(report.title)));
    html.push_str(STYLE);
    html.push_str("</head>\n<body>\n");
    html.push_str(&format!("<h1>{}</h1>\n<ul>\n", escape(report.title)));
    for line in &report.summary_lines {
        html.push_str(&format!("<li>{}</li>\n", escape(line)));
    }
    html.push_str("</ul>\n<h2>Metrics per epoch</h2>\n<table>\n<tr>");
    for h in &report.metrics_header {
        html.push_str(&format!("<th>{}</th>", escape(h)));
    }
    html.push_str("</tr>\n");
    for row in &report.metrics {
        html.push_str("<tr>");
        for cell in row {
            html.push_str(&format!("<td>{}</td>", escape(cell)));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
    for figure in &report.figures {
        let path = out_dir.join(&figure.file);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let mime = if figure.file.ends_with(".gif") {
            "image/gif"
        } else {
            "image/png"
        };
        html.push_str(&format!(
            "<section>\n<h2>{}</h2>\n<p>{}</p>\n<img alt=\"{}\" src=\"data:{mime};base64,{}\">\n<p class=\"file\">{}</p>\n</section>\n",
            escape(&figure.title),
            escape(&figure.explanation),
            escape(&figure.file),
            base64(&bytes),
            escape(&figure.file)
        ));
    }
    html.push_str(&report.explorer);
    html.push_str(&format!(
        "<h2>Configuration</h2>\n<pre>{}</pre>\n</body>\n</html>\n",
        escape(&report.config_json)
    ));
    write_atomic(&out_dir.join("report.html"), html.as_bytes())
}

const STYLE: &str = "<style>\nbody{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222;line-height:1.5}\n\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}\n\
img{max-width:100%;border:1px solid #ddd}section{margin:2.5em 0}.file{color:#777;font-size:.9em}\npre{background:#f6f6f6;padding:1em;overflow:auto}\n</style>\n";

/// HTML-escapes text.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Standard base64 (RFC 4648) with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }
}
