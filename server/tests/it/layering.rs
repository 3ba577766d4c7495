//! The server's modules depend on each other one way only: no module imports one that imports it
//! back, however indirectly. The Manager is the hub; the connection I/O and the readings sink are
//! leaves that define the messages they emit and know nothing of their callers' mailboxes.
//!
//! The modules live in folders by concern (`link/`, `auth/`, `readings/`, `console/`, `run/`, ...),
//! and the folders depend on each other along the edges [`ALLOWED`] lists, no others: the walk
//! reads every `.rs` file under `src/`, however deep, so a module moved into a folder stays checked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Folder (or top-level module) -> the folders its non-test code may name through `crate::`.
/// `run/` starts everything; `link/` is the clients' side; `auth/` and `readings/` are leaves.
const ALLOWED: &[(&str, &[&str])] = &[
    ("auth", &[]),
    ("readings", &[]),
    ("commands", &["auth", "readings"]),
    ("config", &["auth", "readings", "commands", "export_config", "reload_check"]),
    ("export_config", &[]),
    ("reload_check", &[]),
    ("fleet", &[]),
    ("link", &["auth", "readings", "config", "fleet"]),
    ("console", &["auth", "link"]),
    ("run", &["auth", "readings", "link", "console", "config", "reload_check", "fleet"]),
];

/// One source file's text, whole and without its `#[cfg(test)] mod tests`.
struct Source {
    text: String,
    non_test: String,
}

/// Every module under src/ by path (`link::manager`; a folder's `mod.rs` is the folder's module),
/// lib.rs and main.rs aside (they declare and run, they are not modules of the graph).
fn sources() -> BTreeMap<String, Source> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, Source>) {
        for entry in std::fs::read_dir(dir).expect("read src dir") {
            let path = entry.expect("dir entry").path();
            let Some(name) = path.file_name().and_then(|s| s.to_str()).map(str::to_owned) else { continue };
            if path.is_dir() {
                let mut inner = prefix.to_vec();
                inner.push(name);
                walk(&path, &inner, out);
                continue;
            }
            let Some(stem) = name.strip_suffix(".rs") else { continue };
            if prefix.is_empty() && (stem == "lib" || stem == "main") {
                continue;
            }
            let mut module = prefix.to_vec();
            if stem != "mod" {
                module.push(stem.to_owned());
            }
            let text = std::fs::read_to_string(&path).expect("read source");
            let non_test = match text.find("#[cfg(test)]\nmod ") {
                Some(at) => text[..at].to_owned(),
                None => text.clone(),
            };
            out.insert(module.join("::"), Source { text, non_test });
        }
    }
    let mut out = BTreeMap::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &[], &mut out);
    out
}

/// The paths a use-tree names: `{a::X, b::{c, d}}` gives `a::X`, `b::c`, `b::d`.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else { return vec![tree.to_owned()] };
    let head = &tree[..open];
    let (mut depth, mut start, mut paths) = (0, open + 1, Vec::new());
    for (i, c) in tree.char_indices().skip(open) {
        match c {
            '{' => depth += 1,
            '}' | ',' if depth == 1 => {
                paths.extend(expand(&tree[start..i]).into_iter().map(|p| format!("{head}{p}")));
                start = i + 1;
                if c == '}' {
                    break;
                }
            }
            '}' => depth -= 1,
            _ => {}
        }
    }
    paths
}

/// The use-tree that starts at `rest` (just after `crate::` or `super::`), up to where it ends.
fn tree_at(rest: &str) -> &str {
    let mut depth = 0;
    for (i, c) in rest.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return &rest[..i],
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &rest[..=i];
                }
            }
            c if depth == 0 && !(c.is_alphanumeric() || c == '_' || c == ':') => return &rest[..i],
            _ => {}
        }
    }
    rest
}

/// The module a path names: its longest prefix that is a module. A first segment that is no
/// top-level module is a short path lib.rs keeps (`crate::cidr`): the one module of that name.
fn resolve(path: &str, modules: &BTreeSet<String>) -> Option<String> {
    let segments: Vec<&str> = path.split("::").map(str::trim).filter(|s| !s.is_empty()).collect();
    let longest = |segments: &[&str]| {
        (1..=segments.len()).rev().map(|n| segments[..n].join("::")).find(|m| modules.contains(m))
    };
    longest(&segments).or_else(|| {
        let first = segments.first()?;
        let mut named = modules.iter().filter(|m| m.rsplit("::").next() == Some(first));
        match (named.next(), named.next()) {
            (Some(m), None) => {
                let mut full: Vec<&str> = m.split("::").collect();
                full.extend(&segments[1..]);
                longest(&full)
            }
            _ => None,
        }
    })
}

/// The other modules `text` (the source of `module`) names through `crate::` or `super::`.
fn names(module: &str, text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let parent = module.rsplit_once("::").map_or("", |(p, _)| p);
    let mut deps = BTreeSet::new();
    for (prefix, base) in [("crate::", ""), ("super::", parent)] {
        for (i, _) in text.match_indices(prefix) {
            for path in expand(tree_at(&text[i + prefix.len()..])) {
                let full = if base.is_empty() { path } else { format!("{base}::{path}") };
                // `super::*` in a file's tests is the file itself, not its folder.
                if let Some(m) = resolve(&full, modules).filter(|m| m.len() > base.len() && m != module) {
                    deps.insert(m);
                }
            }
        }
    }
    deps
}

/// Module path -> the modules it names, test code included.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let sources = sources();
    let modules: BTreeSet<String> = sources.keys().cloned().collect();
    sources.iter().map(|(m, s)| (m.clone(), names(m, &s.text, &modules))).collect()
}

/// The folder (or top-level module) a module lives in.
fn unit(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

/// Folder -> the other folders its non-test code names, each with one module edge that does.
fn folder_graph() -> BTreeMap<String, BTreeMap<String, String>> {
    let sources = sources();
    let modules: BTreeSet<String> = sources.keys().cloned().collect();
    let mut graph: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (m, s) in &sources {
        let deps = graph.entry(unit(m).to_owned()).or_default();
        for dep in names(m, &s.non_test, &modules) {
            if unit(&dep) != unit(m) {
                deps.entry(unit(&dep).to_owned()).or_insert_with(|| format!("{m} -> {dep}"));
            }
        }
    }
    graph
}

/// A cycle through the graph, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| *n == node) {
            let mut cycle: Vec<String> = path[at..].iter().map(|s| s.to_string()).collect();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if !done.insert(node) {
            return None;
        }
        path.push(node);
        for dep in &graph[node] {
            if let Some(c) = visit(dep, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let graph = import_graph();
    assert!(graph.contains_key("link::manager") && graph.contains_key("link::session"), "{graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle {}\nwhole graph: {graph:#?}", cycle.join(" -> "));
    }
}

#[test]
fn the_leaves_and_the_hub_are_where_the_design_puts_them() {
    let graph = import_graph();
    let deps = |m: &str| graph[m].iter().map(String::as_str).collect::<Vec<_>>();
    assert_eq!(deps("link::conn"), Vec::<&str>::new(), "the connection I/O is a leaf");
    for caller in ["link::manager", "link::session", "link::conn", "run::server", "console::listener"] {
        assert!(
            !deps("readings::sink").contains(&caller),
            "the sink is a leaf: it knows nothing of {caller}"
        );
    }
    assert!(
        !deps("link::session").contains(&"link::manager"),
        "a session reports without naming the Manager"
    );
    for m in ["link::session", "link::conn", "readings::sink"] {
        assert!(deps("link::manager").contains(&m), "the Manager starts and talks to {m}");
    }
}

#[test]
fn the_folders_depend_on_each_other_along_the_allowed_edges_only() {
    let graph = folder_graph();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    for folder in ["auth", "readings", "link", "console", "run", "commands", "config", "fleet"] {
        assert!(graph.contains_key(folder), "no {folder} in {graph:#?}");
    }
    for (folder, deps) in &graph {
        let Some(may) = allowed.get(folder.as_str()) else {
            panic!("{folder} is not in ALLOWED: say which folders it may name");
        };
        for (dep, example) in deps {
            assert!(may.contains(&dep.as_str()), "{folder} may not name {dep} ({example})");
        }
    }
}

#[test]
fn the_walk_sees_modules_in_folders_and_short_paths() {
    let graph = import_graph();
    assert!(graph["run::server"].contains("link::manager"), "{graph:#?}");
    let modules: BTreeSet<String> = ["auth", "auth::cidr", "link"].map(String::from).into();
    assert_eq!(resolve("cidr::Cidr", &modules).as_deref(), Some("auth::cidr"), "a short path lib.rs keeps");
    assert_eq!(resolve("auth::Secret", &modules).as_deref(), Some("auth"));
    assert_eq!(expand("{a::X, b::{c, d}}"), ["a::X", "b::c", "b::d"]);
    assert_eq!(tree_at("link::{conn::{A, B}, session}; rest"), "link::{conn::{A, B}, session}");
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let graph: BTreeMap<String, BTreeSet<String>> = [("a", &["b"][..]), ("b", &["c"]), ("c", &["a"])]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.iter().map(|s| s.to_string()).collect()))
        .collect();
    assert_eq!(find_cycle(&graph).map(|c| c.join(" -> ")).as_deref(), Some("a -> b -> c -> a"));
}
