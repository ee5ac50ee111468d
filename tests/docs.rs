//! Every relative link in the documentation points at a file that exists.

use std::path::Path;

fn relative_links(markdown: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut rest = markdown;
    while let Some(start) = rest.find("](") {
        rest = &rest[start + 2..];
        let end = rest.find(')').unwrap_or(rest.len());
        let link = rest[..end].split('#').next().unwrap_or("").to_string();
        if !link.is_empty() && !link.contains("://") {
            links.push(link);
        }
        rest = &rest[end..];
    }
    links
}

#[test]
fn documentation_links_resolve() {
    for doc in [
        "README.md",
        "docs/WALKTHROUGH.md",
        "docs/PERFORMANCE.md",
        "data/README.md",
    ] {
        let text = std::fs::read_to_string(doc).unwrap_or_else(|e| panic!("{doc}: {e}"));
        let base = Path::new(doc).parent().unwrap();
        let links = relative_links(&text);
        assert!(
            !links.is_empty() || doc == "data/README.md",
            "{doc} has no links"
        );
        for link in links {
            assert!(
                base.join(&link).exists(),
                "{doc} links to {link}, which does not exist"
            );
        }
    }
}
