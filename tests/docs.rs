//! The documentation's links stay true: every relative link points at a file
//! that exists, and every line anchor lands on the item its link names.
//!
//! Convention for line anchors: the link text is the item's name in backticks,
//! optionally qualified by the `impl` type, trait or module around it, and the
//! anchor is the line of its declaration (not its doc comment), e.g.
//! [`dense_backward`](../src/nn/dense.rs#L65), [`Adam::update`](../src/optim.rs#L54)
//! or [`tests::some_test`](../src/optim.rs#L142); a range `#L10-L20` runs from the
//! declaration to the item's closing line. The numbers are never written by hand:
//! `python3 scripts/relink-docs.py` rewrites them from the names, and this test
//! names that command when one is stale. The names are resolved here exactly as
//! the script resolves them (scopes read from rustfmt's indentation); keep the two
//! in step.

use std::path::Path;

/// The command that rewrites every line anchor from the names.
const RELINK: &str = "python3 scripts/relink-docs.py";

/// The markdown files whose links are checked: README.md, docs/*.md and
/// data/README.md (the files the script rewrites).
fn docs() -> Vec<String> {
    let mut docs: Vec<String> = std::fs::read_dir("docs")
        .expect("docs/")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "md").then(|| path.to_string_lossy().replace('\\', "/"))
        })
        .collect();
    docs.sort();
    docs.insert(0, "README.md".to_string());
    docs.push("data/README.md".to_string());
    docs
}

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
    for doc in docs() {
        let doc = doc.as_str();
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

// ---------------------------------------------------------------------------
// Resolving a name to its line, as scripts/relink-docs.py does.
// ---------------------------------------------------------------------------

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// `pub(crate) unsafe fn x` -> `unsafe fn x`.
fn strip_visibility(text: &str) -> &str {
    if text.starts_with("pub(") {
        text.find(')')
            .map_or(text, |close| text[close + 1..].trim_start())
    } else if let Some(rest) = text.strip_prefix("pub ") {
        rest.trim_start()
    } else {
        text
    }
}

const KEYWORDS: [&str; 9] = [
    "fn", "struct", "enum", "const", "static", "type", "trait", "mod", "union",
];
/// Words that may precede the keyword of a declaration.
const QUALIFIERS: [&str; 5] = ["const", "async", "unsafe", "default", "extern"];

/// The identifier at the start of `word` (`dense_forward(` -> `dense_forward`).
fn identifier(word: &str) -> &str {
    let end = word
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(word.len());
    &word[..end]
}

/// The name the line declares (`pub fn dense_forward(` -> `dense_forward`), if any.
fn declared_name(line: &str) -> Option<&str> {
    let words: Vec<&str> = strip_visibility(line.trim()).split_whitespace().collect();
    let mut i = 0;
    while i < words.len()
        && QUALIFIERS.contains(&words[i])
        && !(words[i] == "const"
            && words
                .get(i + 1)
                .is_some_and(|next| !KEYWORDS.contains(next) && !QUALIFIERS.contains(next)))
    {
        // `extern "C" fn`: skip the ABI string too.
        if words[i] == "extern" && words.get(i + 1).is_some_and(|w| w.starts_with('"')) {
            i += 1;
        }
        i += 1;
    }
    if i + 1 >= words.len() || !KEYWORDS.contains(&words[i]) {
        return None;
    }
    let mut rest = words[i + 1];
    if words[i] == "static" && rest == "mut" && i + 2 < words.len() {
        rest = words[i + 2];
    }
    let name = identifier(rest);
    (!name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit())).then_some(name)
}

/// The name a scope header gives its contents: `impl<T> Tr for Ty<T>` -> Ty,
/// `impl Ty` -> Ty, `mod m` -> m, `trait T` -> T, `fn f(` -> f.
fn scope_name(header: &str) -> Option<String> {
    let text = strip_visibility(header.trim());
    let text = text.strip_prefix("unsafe ").map_or(text, str::trim_start);
    let Some(mut text) = text
        .strip_prefix("impl")
        .filter(|rest| rest.is_empty() || rest.starts_with([' ', '<']))
    else {
        return declared_name(header).map(str::to_string);
    };
    if text.starts_with('<') {
        // Skip the generic parameters, nested brackets included.
        let mut depth = 0i32;
        for (at, c) in text.char_indices() {
            depth += i32::from(c == '<') - i32::from(c == '>');
            if depth == 0 {
                text = &text[at + 1..];
                break;
            }
        }
    }
    let mut words: Vec<&str> = text
        .split('{')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    if let Some(at) = words.iter().position(|&w| w == "where") {
        words.truncate(at);
    }
    if let Some(at) = words.iter().position(|&w| w == "for") {
        words.drain(..=at);
    }
    let path = words.join(" ");
    let name = path.split('<').next().unwrap_or("").trim();
    let name = name.rsplit("::").next().unwrap_or("").trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// Names of the scopes around line `at` (0-based), outermost first.
fn scope_path(lines: &[&str], at: usize) -> Vec<String> {
    let mut path = Vec::new();
    let mut level = indent(lines[at]);
    let mut row = at;
    while level > 0 && row > 0 {
        row -= 1;
        let line = lines[row];
        let stripped = line.trim();
        if stripped.is_empty()
            || indent(line) >= level
            || ["//", "#", "}", ")", "]", "*"]
                .iter()
                .any(|p| stripped.starts_with(p))
        {
            continue;
        }
        level = indent(line);
        // A header spread over lines (`impl X` / `where` / `{`, or a long `fn`
        // signature ending in `) -> T {`): walk up to its first line.
        let mut header_row = row;
        while scope_name(lines[header_row]).is_none() && header_row > 0 {
            let above = lines[header_row - 1];
            if !above.trim().is_empty()
                && (indent(above) < level
                    || (indent(above) == level && above.trim_end().ends_with([';', '}'])))
            {
                break;
            }
            header_row -= 1;
        }
        path.push(scope_name(lines[header_row]).unwrap_or_else(|| "?".to_string()));
        row = header_row;
    }
    path.reverse();
    path
}

/// The 0-based line that ends the item declared at line `at`.
fn closing_line(lines: &[&str], at: usize) -> usize {
    let code = lines[at].split("//").next().unwrap_or("");
    let opened = code.matches('{').count();
    if code.trim_end().ends_with(';') || (opened > 0 && opened == code.matches('}').count()) {
        return at;
    }
    let level = indent(lines[at]);
    for (row, line) in lines.iter().enumerate().skip(at + 1) {
        let stripped = line.trim();
        if !stripped.is_empty() && indent(line) < level {
            break;
        }
        if indent(line) == level
            && (stripped.starts_with('}') || (stripped.starts_with(')') && stripped.ends_with(';')))
        {
            return row;
        }
    }
    at
}

/// The first and last lines (1-based) of the item `qualified` (`name` or
/// `Scope::name`) in the Rust text `source`, or why there is none: not declared,
/// or declared in several places that the link does not tell apart. An
/// unqualified name means the outermost declaration (a free function before a
/// method of the same name).
fn resolve(source: &str, qualified: &str) -> Result<(usize, usize), String> {
    let segments: Vec<&str> = qualified.split("::").collect();
    let (name, qualifier) = segments.split_last().expect("split gives one piece");
    let lines: Vec<&str> = source.split('\n').collect();
    let mut found: Vec<(usize, Vec<String>)> = Vec::new();
    for (row, line) in lines.iter().enumerate() {
        if declared_name(line) == Some(name) {
            let path = scope_path(&lines, row);
            if path.ends_with(&qualifier.iter().map(|s| s.to_string()).collect::<Vec<_>>()) {
                found.push((row, path));
            }
        }
    }
    let Some(shortest) = found.iter().map(|(_, path)| path.len()).min() else {
        return Err(format!("`{qualified}` is not declared in this file"));
    };
    found.retain(|(_, path)| path.len() == shortest);
    let mut places: Vec<String> = found
        .iter()
        .map(|(_, path)| {
            let mut place = path.clone();
            place.push(name.to_string());
            place.join("::")
        })
        .collect();
    places.sort();
    places.dedup();
    if places.len() > 1 {
        return Err(format!(
            "`{qualified}` is ambiguous ({}): qualify it in the link",
            places.join(", ")
        ));
    }
    // Several with one path are #[cfg] variants: the first one.
    let row = found[0].0;
    Ok((row + 1, closing_line(&lines, row) + 1))
}

/// Checks one anchored link; returns a message if it is stale or names nothing.
fn check_anchor(doc: &str, link: &Link, fragment: &str) -> Option<String> {
    let Some(number) = fragment.strip_prefix('L') else {
        return None; // a heading anchor, not a line
    };
    let target = format!("{}#{fragment}", link.path);
    let (first, last) = match number.split_once("-L") {
        Some((first, last)) => (first.parse::<usize>(), Some(last.parse::<usize>())),
        None => (number.parse::<usize>(), None),
    };
    let (Ok(_), Ok(last)) = (first, last.transpose()) else {
        return Some(format!("{doc}: bad line anchor in ({target})"));
    };
    let name = match link.text.strip_prefix('`').and_then(|t| t.strip_suffix('`')) {
        Some(name)
            if !name.is_empty()
                && name
                    .split("::")
                    .all(|s| !s.is_empty() && s == identifier(s)) =>
        {
            name
        }
        _ => {
            return Some(format!(
                "{doc}: the link [{}]({target}) has a line anchor, so its text must be the item's name in backticks, e.g. [`dense_forward`](../src/nn/dense.rs#L27)",
                link.text
            ))
        }
    };
    let base = Path::new(doc).parent().unwrap();
    let source = match std::fs::read_to_string(base.join(&link.path)) {
        Ok(source) => source,
        Err(e) => return Some(format!("{doc}: [`{name}`]({target}): {e}")),
    };
    let (start, end) = match resolve(&source, name) {
        Ok(lines) => lines,
        Err(why) => return Some(format!("{doc}: [`{name}`]({target}): {why}")),
    };
    let expected = match last {
        None => format!("L{start}"),
        Some(_) => format!("L{start}-L{end}"),
    };
    (expected != fragment).then(|| {
        format!("{doc}: [`{name}`]({target}) is stale: `{name}` is at #{expected}; run `{RELINK}`")
    })
}

#[test]
fn line_anchors_land_on_the_item_they_name() {
    let mut problems = Vec::new();
    let mut anchors = 0;
    for doc in docs() {
        let text = std::fs::read_to_string(&doc).unwrap_or_else(|e| panic!("{doc}: {e}"));
        for link in links(&text).iter().filter(|l| is_relative(&l.path)) {
            if let Some(fragment) = &link.fragment {
                anchors += usize::from(fragment.starts_with('L'));
                problems.extend(check_anchor(&doc, link, fragment));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {anchors} line anchors are off; `{RELINK}` rewrites them from the names (a name it cannot find must be fixed by hand):\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(anchors >= 20, "the walkthrough links its functions by line");
}

#[test]
fn the_anchor_check_can_fail() {
    let link = |text: &str| Link {
        text: text.to_string(),
        path: "../src/nn/dense.rs".to_string(),
        fragment: None,
    };
    let source = std::fs::read_to_string("src/nn/dense.rs").unwrap();
    let line = source
        .lines()
        .position(|l| l.contains("pub fn dense_backward("))
        .unwrap()
        + 1;
    let doc = "docs/WALKTHROUGH.md";
    let right = format!("L{line}");
    assert_eq!(check_anchor(doc, &link("`dense_backward`"), &right), None);
    // A number one off either way, even onto the doc comment: stale, and the
    // message says which command fixes it.
    for wrong in [line - 1, line + 1] {
        let message = check_anchor(doc, &link("`dense_backward`"), &format!("L{wrong}"))
            .expect("a wrong line is refused");
        assert!(message.contains(&format!("#L{line}")), "{message}");
        assert!(message.contains(RELINK), "{message}");
    }
    // The wrong function, a name the file does not declare, text that is no name.
    assert!(check_anchor(doc, &link("`dense_forward`"), &right).is_some());
    let missing = check_anchor(doc, &link("`no_such_function`"), &right).unwrap();
    assert!(missing.contains("not declared"), "{missing}");
    assert!(check_anchor(doc, &link("dense.rs"), &right).is_some());
    assert!(check_anchor(doc, &link("`dense_backward()`"), &right).is_some());
    assert_eq!(
        declared_name("    pub fn dense_backward_add_dx("),
        Some("dense_backward_add_dx")
    );
}

/// A Rust text with a method, a trait impl, a free function and a test that
/// share one name, and two methods that only their impl tells apart.
const SCOPES: &str = "\
/// Docs.
impl<T: Clone> Foo<T>
where
    T: Copy,
{
    pub fn run(&self) {
        body();
    }
}

impl fmt::Display for Bar {
    fn run(&self) {}
}

pub(crate) const fn run() -> u32 {
    1
}

#[cfg(test)]
mod tests {
    #[test]
    fn run() {}
}

impl A {
    fn twice() {}
}
impl B {
    fn twice() {}
}
";

#[test]
fn names_resolve_through_impl_blocks_and_modules() {
    let source = SCOPES;
    assert_eq!(resolve(source, "run"), Ok((15, 17)), "the free function");
    assert_eq!(resolve(source, "Foo::run"), Ok((6, 8)));
    assert_eq!(resolve(source, "Bar::run"), Ok((12, 12)));
    assert_eq!(resolve(source, "tests::run"), Ok((22, 22)));
    assert!(resolve(source, "Baz::run")
        .unwrap_err()
        .contains("not declared"));
    assert!(resolve(source, "twice").unwrap_err().contains("ambiguous"));
    assert_eq!(resolve(source, "B::twice"), Ok((29, 29)));
}

// ---------------------------------------------------------------------------
// Every command the documentation gives still runs: its test target, test
// filter, subcommand and flags exist. Nothing is trained; `--help` answers.
// ---------------------------------------------------------------------------

/// The documents whose commands are checked.
const COMMAND_DOCS: [&str; 3] = ["docs/WALKTHROUGH.md", "docs/CONVOLUTION.md", "README.md"];

/// Every command line of a markdown text: the lines of fenced code blocks, and
/// inline code spans, that start with `cargo ` or `python3 ` (after any
/// `NAME=value` environment settings). A trailing `\` joins the next line, a
/// `# comment` is dropped, and `[optional]` brackets are removed.
fn commands(markdown: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut fenced = false;
    let mut continued = String::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            let code = line.split(" #").next().unwrap_or("").trim();
            if let Some(start) = code.strip_suffix('\\') {
                continued.push_str(start);
                continued.push(' ');
                continue;
            }
            continued.push_str(code);
            found.push(std::mem::take(&mut continued));
        } else {
            // Inline spans: the odd pieces between backticks.
            found.extend(line.split('`').skip(1).step_by(2).map(str::to_string));
        }
    }
    found
        .into_iter()
        .map(|c| c.replace(['[', ']'], ""))
        .filter_map(|c| {
            let words: Vec<&str> = c
                .split_whitespace()
                .skip_while(|w| w.contains('=') && !w.starts_with('-'))
                .collect();
            matches!(words.first(), Some(&"cargo") | Some(&"python3")).then(|| words.join(" "))
        })
        .collect()
}

/// The `[[test]]` targets Cargo.toml declares (`autotests = false`).
fn test_targets() -> Vec<String> {
    let manifest = std::fs::read_to_string("Cargo.toml").expect("Cargo.toml");
    let mut targets = Vec::new();
    let mut in_test = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_test = line == "[[test]]";
        } else if let (true, Some(name)) = (in_test, line.strip_prefix("name = ")) {
            targets.push(name.trim_matches('"').to_string());
        }
    }
    targets
}

/// The text of every `.rs` file under `dir`.
fn rust_sources(dir: &Path) -> Vec<String> {
    let mut texts = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            texts.extend(rust_sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            texts.push(std::fs::read_to_string(&path).unwrap());
        }
    }
    texts
}

/// The flags libtest accepts after `--` that the documentation uses.
const LIBTEST_FLAGS: [&str; 7] = [
    "--nocapture",
    "--test-threads",
    "--exact",
    "--ignored",
    "--include-ignored",
    "--show-output",
    "--list",
];

/// `--help` of the binary, for a subcommand or (None) the top level.
fn help(subcommand: Option<&str>) -> Result<String, String> {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_mnist-autoencoder"));
    command.args(subcommand).arg("--help");
    let output = command.output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Checks one command line; returns what does not exist, if anything.
fn check_command(command: &str) -> Option<String> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let fail = |why: String| Some(format!("`{command}`: {why}"));
    if words[0] == "python3" {
        let script = words.get(1).copied().unwrap_or("");
        return (!Path::new(script).is_file()).then(|| format!("`{command}`: no file {script}"));
    }
    let (cargo_args, after) = match words.iter().position(|&w| w == "--") {
        Some(at) => (&words[1..at], &words[at + 1..]),
        None => (&words[1..], &words[words.len()..]),
    };
    let flags = |args: &[&str]| -> Vec<String> {
        args.iter()
            .filter(|w| w.starts_with("--"))
            .map(|w| w.split('=').next().unwrap().to_string())
            .collect()
    };
    match cargo_args.first().copied() {
        Some("test") => {
            let mut target = None;
            let mut filter = None;
            let mut rest = cargo_args[1..].iter();
            while let Some(&word) = rest.next() {
                match word {
                    "--test" => target = rest.next().copied(),
                    "--release" | "--lib" | "--doc" | "--timings" => {}
                    flag if flag.starts_with('-') => return fail(format!("unknown option {flag}")),
                    name => filter = Some(name),
                }
            }
            if let Some(target) = target {
                if !test_targets().iter().any(|t| t == target) {
                    return fail(format!(
                        "no test target `{target}` in Cargo.toml (it has {:?})",
                        test_targets()
                    ));
                }
            }
            if let Some(filter) = filter {
                let sources = match target {
                    Some(_) => rust_sources(Path::new("tests")),
                    None => rust_sources(Path::new("src")),
                };
                let known = match filter.strip_suffix("::") {
                    Some(module) => {
                        let all = std::fs::read_to_string("tests/all.rs").unwrap();
                        all.contains(&format!("mod {module};"))
                    }
                    None => sources.iter().any(|s| {
                        s.lines()
                            .any(|l| l.contains(filter) && declared_name(l).is_some())
                    }),
                };
                if !known {
                    return fail(format!(
                        "the filter `{filter}` matches no test module or function"
                    ));
                }
            }
            flags(after)
                .into_iter()
                .find(|f| !LIBTEST_FLAGS.contains(&f.as_str()))
                .map(|f| format!("`{command}`: the test harness has no flag {f}"))
        }
        Some("run") => {
            if let Some(flag) = cargo_args[1..].iter().find(|w| **w != "--release") {
                return fail(format!("unexpected cargo option {flag}"));
            }
            let subcommand = after.first().filter(|w| !w.starts_with('-')).copied();
            let text = match help(subcommand) {
                Ok(text) => text,
                Err(e) => return fail(format!("no subcommand {subcommand:?}: {e}")),
            };
            flags(after)
                .into_iter()
                .find(|f| !text.contains(&format!("{f} ")) && !text.contains(&format!("{f}\n")))
                .map(|f| {
                    format!(
                        "`{command}`: `{}` has no flag {f}",
                        subcommand.unwrap_or("train")
                    )
                })
        }
        Some("fuzz") if cargo_args.get(1) == Some(&"run") => {
            let target = cargo_args.get(2).copied().unwrap_or("");
            (!Path::new(&format!("fuzz/fuzz_targets/{target}.rs")).is_file())
                .then(|| format!("`{command}`: no fuzz target {target}"))
        }
        Some("bench") => (!command.contains("--features bench"))
            .then(|| format!("`{command}`: the benchmarks need `--features bench`")),
        Some("fuzz" | "fmt" | "clippy" | "install" | "build") => None,
        other => fail(format!("unknown cargo subcommand {other:?}")),
    }
}

#[test]
fn every_command_the_documentation_gives_exists() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for doc in COMMAND_DOCS {
        let text = std::fs::read_to_string(doc).unwrap();
        for command in commands(&text) {
            println!("{doc}: {command}");
            checked += 1;
            problems.extend(check_command(&command).map(|p| format!("{doc}: {p}")));
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {checked} commands do not run as written:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(checked >= 20, "only {checked} commands found");
}

#[test]
fn the_command_check_can_fail() {
    let text = "Run\n\n```sh\ncargo run --release -- train --epochs 3 \\\n    --lr 1e-3  # two lines\n```\n\nand `cargo test --lib kl_gradient -- --nocapture`.\n";
    assert_eq!(
        commands(text),
        [
            "cargo run --release -- train --epochs 3 --lr 1e-3",
            "cargo test --lib kl_gradient -- --nocapture"
        ]
    );
    for good in commands(text) {
        assert_eq!(check_command(&good), None);
    }
    for bad in [
        "cargo test --test walkthrough -- --nocapture",
        "cargo test --test torch_reference",
        "cargo test --test all no_such_module::",
        "cargo test --lib no_such_test_anywhere",
        "cargo test --test all -- --no-such-harness-flag",
        "cargo run --release -- train --no-such-flag 3",
        "cargo run --release -- no-such-subcommand",
        "cargo run --release -- gradcheck --out-dir x",
        "cargo frobnicate",
        "cargo fuzz run no_such_target",
        "python3 scripts/no-such-script.py",
    ] {
        assert!(check_command(bad).is_some(), "{bad} was accepted");
    }
}

/// What `python3 scripts/relink-docs.py --resolve -` answers for each
/// `(file, name)`: `Ok((first, last))` or `Err(())`, or None if there is no
/// python3 to run.
fn script_resolves(queries: &[(String, String)]) -> Option<Vec<Result<(usize, usize), ()>>> {
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .args(["scripts/relink-docs.py", "--resolve", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    let mut input = String::new();
    for (path, name) in queries {
        input.push_str(&format!("{path} {name}\n"));
    }
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let answers: Vec<_> = text
        .lines()
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match (
                words.get(2).map(|w| w.parse()),
                words.get(3).map(|w| w.parse()),
            ) {
                (Some(Ok(first)), Some(Ok(last))) => Ok((first, last)),
                _ => Err(()),
            }
        })
        .collect();
    assert_eq!(answers.len(), queries.len(), "one answer per name:\n{text}");
    Some(answers)
}

/// The script and this test must agree, or the script would "fix" anchors that
/// this test then refuses: every item of every file under src/, by its bare
/// name and qualified by its innermost scope, and the names of `SCOPES`.
#[test]
fn the_script_resolves_every_name_as_this_test_does() {
    let scratch = tempfile::tempdir().unwrap();
    let scopes = scratch.path().join("scopes.rs");
    std::fs::write(&scopes, SCOPES).unwrap();
    let mut files = vec![(scopes.to_string_lossy().into_owned(), SCOPES.to_string())];
    let mut pending = vec![std::path::PathBuf::from("src")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                files.push((path.to_string_lossy().into_owned(), text));
            }
        }
    }
    let mut queries = Vec::new();
    let mut ours = Vec::new();
    for (path, source) in &files {
        assert!(!path.contains(' '), "{path}: a space would break the query");
        let lines: Vec<&str> = source.split('\n').collect();
        let mut names: Vec<String> = vec!["no_such_item".to_string()];
        for (row, line) in lines.iter().enumerate() {
            if let Some(name) = declared_name(line) {
                names.push(name.to_string());
                if let Some(scope) = scope_path(&lines, row).last() {
                    names.push(format!("{scope}::{name}"));
                }
            }
        }
        names.retain(|n| !n.contains('?'));
        names.sort();
        names.dedup();
        for name in names {
            ours.push(resolve(source, &name).map_err(|_| ()));
            queries.push((path.clone(), name));
        }
    }
    let Some(answers) = script_resolves(&queries) else {
        println!("SKIPPED: python3 is not installed, so the script cannot be compared");
        return;
    };
    for (((path, name), ours), theirs) in queries.iter().zip(&ours).zip(&answers) {
        assert_eq!(
            ours, theirs,
            "{path}: `{name}` resolves to {ours:?} here and to {theirs:?} in scripts/relink-docs.py"
        );
    }
    println!(
        "{} names in {} files resolved alike by the script and the test",
        queries.len(),
        files.len()
    );
    assert!(queries.len() > 100);
}
