//! The server's modules depend on each other one way only: no module imports one that imports it
//! back, however indirectly. The Manager is the hub; the connection I/O and the readings sink are
//! leaves that define the messages they emit and know nothing of their callers' mailboxes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module name -> the sibling modules its source names through `crate::` (or `super::`).
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut texts = BTreeMap::new();
    for entry in std::fs::read_dir(&src).expect("server/src") {
        let path = entry.expect("dir entry").path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else { continue };
        // lib.rs declares every module and main.rs is the binary: neither is a module of the graph.
        if path.extension().is_some_and(|e| e == "rs") && stem != "lib" && stem != "main" {
            texts.insert(stem.to_owned(), std::fs::read_to_string(&path).expect("read source"));
        }
    }
    let modules: BTreeSet<String> = texts.keys().cloned().collect();
    texts
        .iter()
        .map(|(name, text)| {
            let mut deps = BTreeSet::new();
            for prefix in ["crate::", "super::"] {
                for (i, _) in text.match_indices(prefix) {
                    let rest = &text[i + prefix.len()..];
                    // `crate::{a::X, b}` names a and b; `crate::a::X` names a.
                    let names = match rest.strip_prefix('{') {
                        Some(group) => group.split('}').next().unwrap_or("").split(',').collect(),
                        None => vec![rest],
                    };
                    for n in names {
                        let ident: String =
                            n.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                        if modules.contains(&ident) && &ident != name {
                            deps.insert(ident);
                        }
                    }
                }
            }
            (name.clone(), deps)
        })
        .collect()
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
    assert!(graph.contains_key("manager") && graph.contains_key("session"), "{graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle {}\nwhole graph: {graph:#?}", cycle.join(" -> "));
    }
}

#[test]
fn the_leaves_and_the_hub_are_where_the_design_puts_them() {
    let graph = import_graph();
    let deps = |m: &str| graph[m].iter().map(String::as_str).collect::<Vec<_>>();
    assert_eq!(deps("conn"), Vec::<&str>::new(), "the connection I/O is a leaf");
    for caller in ["manager", "session", "conn", "server", "backdoor"] {
        assert!(!deps("sink").contains(&caller), "the sink is a leaf: it knows nothing of {caller}");
    }
    assert!(!deps("session").contains(&"manager"), "a session reports without naming the Manager");
    for m in ["session", "conn", "sink"] {
        assert!(deps("manager").contains(&m), "the Manager starts and talks to {m}");
    }
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let graph: BTreeMap<String, BTreeSet<String>> = [("a", &["b"][..]), ("b", &["c"]), ("c", &["a"])]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.iter().map(|s| s.to_string()).collect()))
        .collect();
    assert_eq!(find_cycle(&graph).map(|c| c.join(" -> ")).as_deref(), Some("a -> b -> c -> a"));
}
