//! `report.html`: one self-contained page (every image embedded as a data URI,
//! no external URL) with the run's configuration, its metrics and every figure.
//!
//! The page stays under [`MAX_REPORT_BYTES`]: if the figures would make it
//! larger, the largest animations are embedded with fewer frames (evenly
//! spaced, the first and the last kept; a GIF's frames are copied, not
//! re-encoded), or left out, and the page says so beside each; the files
//! themselves stay whole in the output folder.

use std::path::Path;

use crate::error::{Error, Result};
use crate::files::write_atomic;

/// The largest report.html written, in bytes.
pub const MAX_REPORT_BYTES: usize = 8_000_000;

/// One figure on the page: a file in the output folder, what it shows, and
/// the alternative text that says it to someone who cannot see it.
pub struct ReportFigure {
    pub file: String,
    pub title: String,
    pub explanation: String,
    pub alt: String,
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
    /// inline script and style, in a `<section id="explorer">`), or empty.
    pub explorer: String,
}

/// A figure's bytes as embedded, and what the page says about them if they
/// are not the whole file.
struct Embedded {
    bytes: Vec<u8>,
    note: Option<String>,
}

/// Writes `report.html` into `out_dir`, reading each figure from `out_dir`.
pub fn write_report(out_dir: &Path, report: &Report) -> Result<()> {
    let mut files = Vec::new();
    for figure in &report.figures {
        let path = out_dir.join(&figure.file);
        files.push(std::fs::read(&path).map_err(|e| Error::io(&path, e))?);
    }
    let html = fit_to_budget(report, &files, MAX_REPORT_BYTES);
    write_atomic(&out_dir.join("report.html"), html.as_bytes())
}

/// The page with every figure whole if it fits in `budget` bytes; else the
/// largest GIFs, one after another, with as many frames as fit (at least two),
/// or none.
fn fit_to_budget(report: &Report, files: &[Vec<u8>], budget: usize) -> String {
    let mut embedded: Vec<Embedded> = files
        .iter()
        .map(|bytes| Embedded {
            bytes: bytes.clone(),
            note: None,
        })
        .collect();
    let mut html = page(report, &embedded);
    let mut gifs: Vec<usize> = (0..files.len())
        .filter(|&k| report.figures[k].file.ends_with(".gif"))
        .collect();
    gifs.sort_by_key(|&k| std::cmp::Reverse(files[k].len()));
    for k in gifs {
        if html.len() <= budget {
            break;
        }
        let megabytes = files[k].len() as f64 / 1e6;
        let whole = format!(
            "the whole animation ({megabytes:.2} MB) is in the run's folder beside this page"
        );
        let frames = gif_frames(&files[k]);
        let count = frames.as_ref().map_or(0, |f| f.frames.len());
        // Evenly spaced frames, the first (often the untrained model) and the
        // last kept, as many as fit; failing that, the same without the first.
        let with_first = (2..count).rev().map(|keep| evenly_spaced(count, keep));
        let without_first = (2..count.saturating_sub(1)).rev().map(|keep| {
            evenly_spaced(count - 1, keep)
                .iter()
                .map(|f| f + 1)
                .collect()
        });
        let mut fitted = None;
        for chosen in with_first.chain(without_first) {
            let keep = chosen.len();
            let numbers: Vec<String> = chosen.iter().map(|f| (f + 1).to_string()).collect();
            embedded[k] = Embedded {
                bytes: frames.as_ref().expect("count > 0").with_only(&chosen),
                note: Some(format!(
                    "{keep} of its {count} frames embedded here (frames {}) to keep this page under {} MB; {whole}.",
                    numbers.join(", "),
                    budget as f64 / 1e6
                )),
            };
            let candidate = page(report, &embedded);
            if candidate.len() <= budget {
                fitted = Some(candidate);
                break;
            }
        }
        html = fitted.unwrap_or_else(|| {
            embedded[k] = Embedded {
                bytes: Vec::new(),
                note: Some(format!(
                    "not embedded, to keep this page under {} MB; {whole}.",
                    budget as f64 / 1e6
                )),
            };
            page(report, &embedded)
        });
    }
    html
}

/// `keep` indices out of `0..count`, evenly spaced, the first and the last included.
fn evenly_spaced(count: usize, keep: usize) -> Vec<usize> {
    assert!(keep >= 2 && keep <= count, "keep 2..=count frames");
    (0..keep)
        .map(|j| (j * (count - 1) + (keep - 1) / 2) / (keep - 1))
        .collect()
}

/// A GIF cut into its blocks: everything before the first frame (header,
/// screen descriptor, global colours, the loop extension), each frame (its
/// extensions and image), and the trailer.
struct GifFrames<'a> {
    head: &'a [u8],
    frames: Vec<&'a [u8]>,
}

/// The frames of `bytes`, if it is a GIF whose every frame covers the whole
/// screen with no transparency, so that any subset of frames shows the same
/// pictures; None otherwise.
fn gif_frames(bytes: &[u8]) -> Option<GifFrames<'_>> {
    if bytes.len() < 13 || !bytes.starts_with(b"GIF8") {
        return None;
    }
    let width = u16::from_le_bytes([bytes[6], bytes[7]]);
    let height = u16::from_le_bytes([bytes[8], bytes[9]]);
    let colour_table = |flags: u8| {
        if flags & 0x80 != 0 {
            3 << ((flags & 7) + 1)
        } else {
            0
        }
    };
    // Data sub-blocks: a length byte and that many bytes, until a zero length.
    let sub_blocks = |mut at: usize| -> Option<usize> {
        loop {
            let length = *bytes.get(at)? as usize;
            at += 1 + length;
            if length == 0 {
                return Some(at);
            }
        }
    };
    let mut at = 13 + colour_table(bytes[10]);
    let mut head_end = None;
    let mut frame_start = at;
    let mut frames = Vec::new();
    loop {
        match *bytes.get(at)? {
            0x21 => {
                let label = *bytes.get(at + 1)?;
                if label == 0xF9 && *bytes.get(at + 3)? & 1 != 0 {
                    return None; // a transparent colour: frames build on each other
                }
                if label != 0xF9 && frames.is_empty() && head_end.is_none() {
                    // Application extensions (the loop count) before the first frame's
                    // own extensions belong to the head.
                    at = sub_blocks(at + 2)?;
                    frame_start = at;
                    continue;
                }
                head_end.get_or_insert(frame_start);
                at = sub_blocks(at + 2)?;
            }
            0x2C => {
                head_end.get_or_insert(frame_start);
                let descriptor = bytes.get(at + 1..at + 10)?;
                let field = |i: usize| u16::from_le_bytes([descriptor[i], descriptor[i + 1]]);
                if field(0) != 0 || field(2) != 0 || field(4) != width || field(6) != height {
                    return None; // a partial frame: it needs the frames before it
                }
                at = sub_blocks(at + 10 + colour_table(descriptor[8]) + 1)?;
                frames.push(&bytes[frame_start..at]);
                frame_start = at;
            }
            0x3B => break,
            _ => return None,
        }
    }
    Some(GifFrames {
        head: &bytes[..head_end?],
        frames,
    })
    .filter(|g| !g.frames.is_empty())
}

impl GifFrames<'_> {
    /// A GIF of the chosen frames only, each shown longer in proportion so one
    /// loop lasts about as long (at most 2 s a frame).
    fn with_only(&self, chosen: &[usize]) -> Vec<u8> {
        let mut out = self.head.to_vec();
        for &f in chosen {
            let mut frame = self.frames[f].to_vec();
            // The graphic control extension, if the frame starts with one: 21 F9 04 flags delay(2) ...
            if frame.len() >= 6 && frame[0] == 0x21 && frame[1] == 0xF9 {
                let delay = u16::from_le_bytes([frame[4], frame[5]]) as usize;
                let longer = (delay * self.frames.len() / chosen.len()).min(200) as u16;
                frame[4..6].copy_from_slice(&longer.to_le_bytes());
            }
            out.extend_from_slice(&frame);
        }
        out.push(0x3B);
        out
    }
}

/// The whole page, with each figure as `embedded` says.
fn page(report: &Report, embedded: &[Embedded]) -> String {
    let mut html = String::new();
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    // Nothing may leave the page: no request, only inline script and style, data: images.
    html.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">\n");
    html.push_str(&format!("<title>{}</title>\n", escape(report.title)));
    html.push_str(STYLE);
    html.push_str("</head>\n<body>\n");
    html.push_str(&format!("<h1 id=\"top\">{}</h1>\n", escape(report.title)));
    html.push_str(
        "<nav>On this page: <a href=\"#metrics\">metrics</a> · <a href=\"#figures\">figures</a>",
    );
    if !report.explorer.is_empty() {
        html.push_str(" · <a href=\"#explorer\"><strong>latent explorer</strong></a> (decode any code in your browser)");
    }
    html.push_str(" · <a href=\"#configuration\">configuration</a></nav>\n<ul>\n");
    for line in &report.summary_lines {
        html.push_str(&format!("<li>{}</li>\n", escape(line)));
    }
    html.push_str(
        "</ul>\n<h2 id=\"metrics\">Metrics per epoch</h2>\n<div class=\"scroll-x\">\n<table>\n<tr>",
    );
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
    html.push_str("</table>\n</div>\n<div id=\"figures\"></div>\n");
    for (figure, image) in report.figures.iter().zip(embedded) {
        let mime = if figure.file.ends_with(".gif") {
            "image/gif"
        } else {
            "image/png"
        };
        html.push_str(&format!(
            "<section>\n<h2>{}</h2>\n<p>{}</p>\n",
            escape(&figure.title),
            escape(&figure.explanation),
        ));
        if !image.bytes.is_empty() {
            html.push_str(&format!(
                "<img alt=\"{}\" src=\"data:{mime};base64,{}\">\n",
                escape(&figure.alt),
                base64(&image.bytes),
            ));
        }
        html.push_str(&format!("<p class=\"file\">{}", escape(&figure.file)));
        if let Some(note) = &image.note {
            html.push_str(&format!(": {}", escape(note)));
        }
        html.push_str("</p>\n</section>\n");
    }
    html.push_str(&report.explorer);
    html.push_str(&format!(
        "<h2 id=\"configuration\">Configuration</h2>\n<pre>{}</pre>\n<p><a href=\"#top\">back to the top</a></p>\n</body>\n</html>\n",
        escape(&report.config_json)
    ));
    html
}

const STYLE: &str = "<style>\nbody{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222;line-height:1.5}\n\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}\n\
img{max-width:100%;height:auto;border:1px solid #ddd}section{margin:2.5em 0}.file{color:#777;font-size:.9em}\n\
pre{background:#f6f6f6;padding:1em;overflow:auto}.scroll-x{overflow-x:auto;max-width:100%}li{overflow-wrap:anywhere}\n</style>\n";

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
    use super::*;

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

    /// A GIF's block structure (the pixel data is filler, never decoded):
    /// `frames` frames of `bytes_per_frame` data bytes, each of `size` (w, h)
    /// at `offset`, shown 0.1 s.
    fn gif(frames: usize, bytes_per_frame: usize, size: (u16, u16), offset: u16) -> Vec<u8> {
        let mut g = b"GIF89a".to_vec();
        g.extend_from_slice(&8u16.to_le_bytes());
        g.extend_from_slice(&8u16.to_le_bytes());
        g.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 255, 255, 255]); // two global colours
        g.extend_from_slice(b"\x21\xFF\x0BNETSCAPE2.0\x03\x01\x00\x00\x00");
        for f in 0..frames {
            g.extend_from_slice(&[0x21, 0xF9, 4, 0x04, 10, 0, 0, 0]);
            g.push(0x2C);
            for v in [offset, offset, size.0, size.1] {
                g.extend_from_slice(&v.to_le_bytes());
            }
            g.extend_from_slice(&[0, 2]);
            for chunk in vec![f as u8; bytes_per_frame].chunks(255) {
                g.push(chunk.len() as u8);
                g.extend_from_slice(chunk);
            }
            g.push(0);
        }
        g.push(0x3B);
        g
    }

    fn report(files: &[&str]) -> Report<'static> {
        Report {
            title: "t",
            summary_lines: vec![],
            config_json: "{}".into(),
            metrics_header: vec![],
            metrics: vec![],
            figures: files
                .iter()
                .map(|f| ReportFigure {
                    file: f.to_string(),
                    title: f.to_string(),
                    explanation: String::new(),
                    alt: format!("a picture of {f}"),
                })
                .collect(),
            explorer: String::new(),
        }
    }

    #[test]
    fn a_gif_splits_into_its_frames_and_keeps_the_chosen_ones_longer() {
        let whole = gif(11, 1000, (8, 8), 0);
        let frames = gif_frames(&whole).expect("a GIF of whole frames");
        assert_eq!(frames.frames.len(), 11);
        let three = frames.with_only(&evenly_spaced(11, 3));
        let again = gif_frames(&three).expect("still a GIF");
        assert_eq!(again.frames.len(), 3);
        assert_eq!(again.head, frames.head, "header, colours and loop kept");
        // Frames 1, 6 and 11 (the first and last data bytes 0, 5, 10), each 11/3 as long.
        for (frame, (first, delay)) in again.frames.iter().zip([(0u8, 36u8), (5, 36), (10, 36)]) {
            assert_eq!(frame[4], delay);
            assert_eq!(frame[8 + 10 + 1 + 1], first);
        }
        assert_eq!(evenly_spaced(11, 2), [0, 10]);
        assert_eq!(evenly_spaced(5, 5), [0, 1, 2, 3, 4]);
        // A frame that covers part of the screen builds on the one before: not split.
        assert!(gif_frames(&gif(3, 100, (4, 4), 2)).is_none());
        assert!(gif_frames(b"\x89PNG not a gif").is_none());
    }

    #[test]
    fn a_page_over_budget_embeds_fewer_frames_of_its_largest_animation_or_none() {
        let figures = report(&["small.png", "big.gif"]);
        let files = [vec![7u8; 30_000], gif(11, 30_000, (8, 8), 0)];
        let whole = fit_to_budget(&figures, &files, usize::MAX);
        assert_eq!(whole.matches("src=\"data:image/").count(), 2);
        assert!(!whole.contains("frames embedded"));

        let budget = whole.len() / 2;
        let thinned = fit_to_budget(&figures, &files, budget);
        assert!(thinned.len() <= budget, "{} > {budget}", thinned.len());
        assert_eq!(thinned.matches("src=\"data:image/").count(), 2);
        assert!(thinned.contains("of its 11 frames embedded here (frames 1, "));
        assert!(thinned.contains("frames 1, ") && thinned.contains(", 11)"));

        // Not even two frames fit: the animation is left out, the PNG stays.
        let tiny = fit_to_budget(&figures, &files, 100_000);
        assert!(tiny.len() <= 100_000);
        assert_eq!(tiny.matches("src=\"data:image/").count(), 1);
        assert!(tiny.contains("big.gif: not embedded, to keep this page under 0.1 MB"));
        assert!(tiny.contains("alt=\"a picture of small.png\""));
    }
}
