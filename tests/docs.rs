//! The documentation's links stay true: every relative link points at a file
//! that exists, and every line anchor lands on the item its link names.
//!
//! Convention for line anchors: the link text is the item's name in backticks,
//! optionally with its type or module path, and the anchor is the line of its
//! declaration, e.g. [`dense_backward`](../src/nn/dense.rs#L49) or
//! [`Adam::update`](../src/optim.rs#L54). The anchored line must declare the
//! item (`fn dense_backward`, `struct Params`, ...) or be one of the doc comment
//! or attribute lines directly above that declaration.

use std::path::Path;

const DOCS: [&str; 4] = [
    "README.md",
    "docs/WALKTHROUGH.md",
    "docs/PERFORMANCE.md",
    "data/README.md",
];

/// One markdown link `[text](target)`.
struct Link {
    text: String,
    /// The target without its `#fragment`.
    path: String,
    /// The fragment after `#`, if any.
    fragment: Option<String>,
}

/// Every `[text](target)` link of a markdown text.
fn links(markdown: &str) -> Vec<Link> {
    let mut links = Vec::new();
    let mut offset = 0;
    while let Some(found) = markdown[offset..].find("](") {
        let middle = offset + found;
        let target_start = middle + 2;
        let target_end = markdown[target_start..]
            .find(')')
            .map_or(markdown.len(), |e| target_start + e);
        let text_start = markdown[..middle].rfind('[').map_or(middle, |s| s + 1);
        let target = &markdown[target_start..target_end];
        let (path, fragment) = match target.split_once('#') {
            Some((path, fragment)) => (path, Some(fragment.to_string())),
            None => (target, None),
        };
        links.push(Link {
            text: markdown[text_start..middle].to_string(),
            path: path.to_string(),
            fragment,
        });
        offset = target_end;
    }
    links
}

fn is_relative(path: &str) -> bool {
    !path.is_empty() && !path.contains("://") && !path.starts_with("mailto:")
}

#[test]
fn documentation_links_resolve() {
    for doc in DOCS {
        let text = std::fs::read_to_string(doc).unwrap_or_else(|e| panic!("{doc}: {e}"));
        let base = Path::new(doc).parent().unwrap();
        let relative: Vec<Link> = links(&text)
            .into_iter()
            .filter(|l| is_relative(&l.path))
            .collect();
        assert!(
            !relative.is_empty() || doc == "data/README.md",
            "{doc} has no links"
        );
        for link in relative {
            assert!(
                base.join(&link.path).exists(),
                "{doc} links to {}, which does not exist",
                link.path
            );
        }
    }
}

/// True if `line` declares `name` (`fn name(`, `struct name {`, ...).
fn declares(line: &str, name: &str) -> bool {
    [
        "fn", "struct", "enum", "const", "static", "mod", "type", "trait",
    ]
    .iter()
    .any(|keyword| {
        let declaration = format!("{keyword} {name}");
        line.match_indices(&declaration).any(|(at, _)| {
            let before_ok = at == 0 || !line.as_bytes()[at - 1].is_ascii_alphanumeric();
            let after = line[at + declaration.len()..].chars().next();
            before_ok && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
    })
}

/// Checks one anchored link; returns a message if it does not land on its item.
fn check_anchor(doc: &str, link: &Link, fragment: &str) -> Option<String> {
    let Some(number) = fragment.strip_prefix('L') else {
        return None; // a heading anchor, not a line
    };
    let line: usize = match number.split('-').next().unwrap_or("").parse() {
        Ok(line) if line >= 1 => line,
        _ => return Some(format!("{doc}: bad line anchor #{fragment}")),
    };
    let name = match link.text.strip_prefix('`').and_then(|t| t.strip_suffix('`')) {
        Some(name) if !name.contains('`') => name.rsplit("::").next().unwrap_or(name),
        _ => {
            return Some(format!(
                "{doc}: the link [{}]({}#{fragment}) has a line anchor, so its text must be the item's name in backticks",
                link.text, link.path
            ))
        }
    };
    let base = Path::new(doc).parent().unwrap();
    let source = std::fs::read_to_string(base.join(&link.path)).ok()?;
    let lines: Vec<&str> = source.lines().collect();
    // From the anchored line, skip the doc comments and attributes above the item.
    let mut at = line - 1;
    while at < lines.len() {
        let trimmed = lines[at].trim_start();
        if trimmed.starts_with("///") || trimmed.starts_with("#[") {
            at += 1;
        } else {
            break;
        }
    }
    if at < lines.len() && declares(lines[at], name) {
        return None;
    }
    let actual = lines
        .iter()
        .position(|l| declares(l, name))
        .map_or("nowhere".to_string(), |i| format!("at line {}", i + 1));
    Some(format!(
        "{doc}: [`{name}`]({}#L{line}) lands on {:?}, but `{name}` is declared {actual}",
        link.path,
        lines
            .get(line - 1)
            .copied()
            .unwrap_or("(past the end of the file)")
    ))
}

#[test]
fn line_anchors_land_on_the_item_they_name() {
    let mut problems = Vec::new();
    let mut anchors = 0;
    for doc in DOCS {
        let text = std::fs::read_to_string(doc).unwrap_or_else(|e| panic!("{doc}: {e}"));
        for link in links(&text).iter().filter(|l| is_relative(&l.path)) {
            if let Some(fragment) = &link.fragment {
                anchors += usize::from(fragment.starts_with('L'));
                problems.extend(check_anchor(doc, link, fragment));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {anchors} line anchors are off:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(anchors >= 20, "the walkthrough links its functions by line");
}

#[test]
fn the_anchor_check_can_fail() {
    let link = |text: &str, fragment: &str| Link {
        text: text.to_string(),
        path: "../src/nn/dense.rs".to_string(),
        fragment: Some(fragment.to_string()),
    };
    let source = std::fs::read_to_string("src/nn/dense.rs").unwrap();
    let line = source
        .lines()
        .position(|l| l.contains("pub fn dense_backward("))
        .unwrap()
        + 1;
    let doc = "docs/WALKTHROUGH.md";
    let right = format!("L{line}");
    assert_eq!(
        check_anchor(doc, &link("`dense_backward`", &right), &right),
        None
    );
    // The doc comment just above is fine too.
    let above = format!("L{}", line - 1);
    assert_eq!(
        check_anchor(doc, &link("`dense_backward`", &above), &above),
        None
    );
    // The wrong function, a line too far, or text that names nothing: all refused.
    assert!(check_anchor(doc, &link("`dense_forward`", &right), &right).is_some());
    let below = format!("L{}", line + 1);
    assert!(check_anchor(doc, &link("`dense_backward`", &below), &below).is_some());
    assert!(check_anchor(doc, &link("dense.rs", &right), &right).is_some());
    assert!(!declares("fn dense_backward_add_dx(", "dense_backward"));
}
