//! The picture of `../shared/architecture.md` kept true by the code itself: the import graph of
//! `sim/` (drawn from every `use` and every `crate::`/`super::` path of the non-test code) has no
//! circle, the one-way rules hold, and no source file grows past 1,000 lines.
//!
//! `cargo test --test architecture -- --nocapture` prints the figures: files, edges, circles (with
//! their files), the largest files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// A module path such as `["world", "lcs"]` (the crate root is `[]`).
type ModPath = Vec<String>;

#[derive(Default)]
struct Module {
    /// The file that holds the module.
    file: String,
    /// Names of items defined here (structs, functions, macros, ...).
    items: BTreeSet<String>,
    /// `use` aliases visible here: name -> the absolute path it stands for.
    aliases: BTreeMap<String, ModPath>,
    /// `use x::*` targets.
    globs: Vec<ModPath>,
}

struct Crate {
    modules: BTreeMap<ModPath, Module>,
    /// Lines of each file.
    lines: BTreeMap<String, usize>,
    /// Paths each file names, with the module scope they were named in.
    refs: Vec<(String, ModPath, ModPath)>,
}

const ROOT: &str = "sim";

fn module_path_of(file: &Path) -> ModPath {
    let rel = file.strip_prefix(ROOT).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_owned());
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("main.rs") {
            out.push(path);
        }
    }
}

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && matches!(&a.meta, syn::Meta::List(l) if l.tokens.to_string().contains("test"))
    })
}

/// Expands a use tree into (alias, absolute-or-relative path, is_glob).
fn expand_use(prefix: &ModPath, tree: &syn::UseTree, out: &mut Vec<(Option<String>, ModPath)>) {
    match tree {
        syn::UseTree::Path(p) => {
            let mut next = prefix.clone();
            next.push(p.ident.to_string());
            expand_use(&next, &p.tree, out);
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            if name == "self" {
                out.push((prefix.last().cloned(), prefix.clone()));
            } else {
                let mut path = prefix.clone();
                path.push(name.clone());
                out.push((Some(name), path));
            }
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix.clone();
            path.push(r.ident.to_string());
            out.push((Some(r.rename.to_string()), path));
        }
        syn::UseTree::Glob(_) => out.push((None, prefix.clone())),
        syn::UseTree::Group(g) => {
            for t in &g.items {
                expand_use(prefix, t, out);
            }
        }
    }
}

struct Collector<'a> {
    file: String,
    scope: ModPath,
    krate: &'a mut Crate,
}

impl Collector<'_> {
    fn module(&mut self) -> &mut Module {
        let file = self.file.clone();
        self.krate
            .modules
            .entry(self.scope.clone())
            .or_insert_with(|| Module {
                file,
                ..Module::default()
            })
    }

    fn define(&mut self, name: String) {
        self.module().items.insert(name);
    }

    fn items(&mut self, items: &[syn::Item]) {
        for item in items {
            self.item(item);
        }
    }

    fn item(&mut self, item: &syn::Item) {
        use syn::Item;
        let attrs = match item {
            Item::Const(i) => &i.attrs,
            Item::Enum(i) => &i.attrs,
            Item::Fn(i) => &i.attrs,
            Item::Impl(i) => &i.attrs,
            Item::Macro(i) => &i.attrs,
            Item::Mod(i) => &i.attrs,
            Item::Static(i) => &i.attrs,
            Item::Struct(i) => &i.attrs,
            Item::Trait(i) => &i.attrs,
            Item::Type(i) => &i.attrs,
            Item::Use(i) => &i.attrs,
            _ => return,
        };
        if is_test_only(attrs) {
            return;
        }
        match item {
            Item::Const(i) => self.define(i.ident.to_string()),
            Item::Enum(i) => self.define(i.ident.to_string()),
            Item::Fn(i) => self.define(i.sig.ident.to_string()),
            Item::Static(i) => self.define(i.ident.to_string()),
            Item::Struct(i) => self.define(i.ident.to_string()),
            Item::Trait(i) => self.define(i.ident.to_string()),
            Item::Type(i) => self.define(i.ident.to_string()),
            Item::Macro(i) => {
                if let Some(ident) = &i.ident {
                    self.define(ident.to_string());
                }
            }
            Item::Mod(m) => {
                if let Some((_, inner)) = &m.content {
                    let outer = self.scope.clone();
                    self.scope.push(m.ident.to_string());
                    self.module();
                    self.items(inner);
                    self.scope = outer;
                }
                return;
            }
            Item::Use(u) => {
                let mut uses = Vec::new();
                expand_use(&Vec::new(), &u.tree, &mut uses);
                for (alias, path) in uses {
                    self.krate
                        .refs
                        .push((self.file.clone(), self.scope.clone(), path.clone()));
                    let absolute = absolute(&self.scope, &path, self.krate);
                    match alias {
                        Some(name) => {
                            if let Some(absolute) = absolute {
                                self.module().aliases.insert(name, absolute);
                            }
                        }
                        None => {
                            if let Some(absolute) = absolute {
                                self.module().globs.push(absolute);
                            }
                        }
                    }
                }
                return;
            }
            _ => {}
        }
        // Paths inside the item's body.
        let mut paths = PathCollector::default();
        paths.visit_item(item);
        for path in paths.paths {
            self.krate
                .refs
                .push((self.file.clone(), self.scope.clone(), path));
        }
    }
}

#[derive(Default)]
struct PathCollector {
    paths: Vec<ModPath>,
}

impl<'ast> Visit<'ast> for PathCollector {
    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.segments.len() > 1 {
            self.paths
                .push(path.segments.iter().map(|s| s.ident.to_string()).collect());
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_test_only(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }

    fn visit_variant(&mut self, v: &'ast syn::Variant) {
        if !is_test_only(&v.attrs) {
            syn::visit::visit_variant(self, v);
        }
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if !is_test_only(&f.attrs) {
            syn::visit::visit_item_fn(self, f);
        }
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if !is_test_only(&f.attrs) {
            syn::visit::visit_impl_item_fn(self, f);
        }
    }
}

/// The absolute module path a path written in `scope` starts from, or `None` for another crate.
/// Plain first segments are resolved later (they may be aliases); here only `crate`, `self`,
/// `super` are.
fn absolute(scope: &ModPath, path: &ModPath, _krate: &Crate) -> Option<ModPath> {
    let mut base = scope.clone();
    let mut rest = path.as_slice();
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().map(String::as_str) == Some("super") {
                base.pop();
                rest = &rest[1..];
            }
        }
        _ => {
            // A child module of the scope, or an alias resolved at lookup, or another crate.
            let mut p = vec!["<rel>".to_owned()];
            p.extend(scope.iter().cloned());
            p.push("<>".to_owned());
            p.extend(rest.iter().cloned());
            return Some(p);
        }
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

impl Crate {
    fn load() -> Crate {
        let mut files = Vec::new();
        rust_files(Path::new(ROOT), &mut files);
        files.sort();
        let mut krate = Crate {
            modules: BTreeMap::new(),
            lines: BTreeMap::new(),
            refs: Vec::new(),
        };
        // Every file is a module, even one with nothing in it.
        for file in &files {
            let name = file.to_string_lossy().into_owned();
            krate.modules.insert(
                module_path_of(file),
                Module {
                    file: name,
                    ..Module::default()
                },
            );
        }
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            let name = file.to_string_lossy().into_owned();
            krate.lines.insert(name.clone(), text.lines().count());
            let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut c = Collector {
                file: name,
                scope: module_path_of(file),
                krate: &mut krate,
            };
            c.items(&ast.items);
        }
        krate
    }

    /// Turns a `<rel>` path (see `absolute`) into an absolute one, if it names this crate.
    fn unrelative(&self, path: &ModPath, depth: usize) -> Option<ModPath> {
        if depth > 16 {
            return None;
        }
        if path.first().map(String::as_str) != Some("<rel>") {
            return Some(path.clone());
        }
        let split = path.iter().position(|s| s == "<>").unwrap();
        let scope: ModPath = path[1..split].to_vec();
        let rest = &path[split + 1..];
        let first = rest.first()?;
        // An alias in this scope or an enclosing inline scope of the same file.
        let mut s = scope.clone();
        loop {
            if let Some(m) = self.modules.get(&s) {
                let child_or_item = {
                    let mut child = s.clone();
                    child.push(first.clone());
                    self.modules.contains_key(&child) || m.items.contains(first)
                };
                if let Some(target) = m.aliases.get(first).filter(|_| !child_or_item) {
                    let mut p = self.unrelative(target, depth + 1)?;
                    p.extend(rest[1..].iter().cloned());
                    return Some(p);
                }
                if child_or_item {
                    let mut p = s.clone();
                    p.extend(rest.iter().cloned());
                    return Some(p);
                }
            }
            let same_file = !s.is_empty()
                && self.modules.get(&s[..s.len() - 1]).map(|m| &m.file)
                    == self.modules.get(&s).map(|m| &m.file);
            if !same_file {
                return None;
            }
            s.pop();
        }
    }

    /// The file that defines what `path` names.
    fn resolve(&self, path: &ModPath, depth: usize) -> Option<String> {
        if depth > 16 {
            return None;
        }
        let path = self.unrelative(path, depth)?;
        let mut current: ModPath = Vec::new();
        for (i, segment) in path.iter().enumerate() {
            let mut child = current.clone();
            child.push(segment.clone());
            if self.modules.contains_key(&child) {
                current = child;
                continue;
            }
            let module = self.modules.get(&current)?;
            if module.items.contains(segment) {
                return Some(module.file.clone());
            }
            if let Some(target) = module.aliases.get(segment) {
                let mut p = target.clone();
                p.extend(path[i + 1..].iter().cloned());
                return self.resolve(&p, depth + 1);
            }
            for glob in &module.globs {
                let mut p = glob.clone();
                p.extend(path[i..].iter().cloned());
                if let Some(file) = self.resolve(&p, depth + 1) {
                    return Some(file);
                }
            }
            return Some(module.file.clone());
        }
        // The path names a module: the edge goes to its file.
        self.modules.get(&current).map(|m| m.file.clone())
    }

    fn edges(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (file, scope, path) in &self.refs {
            let Some(start) = absolute(scope, path, self) else {
                continue;
            };
            if let Some(target) = self.resolve(&start, 0)
                && &target != file
            {
                edges.entry(file.clone()).or_default().insert(target);
            }
        }
        edges
    }
}

/// Strongly connected components of more than one file (Tarjan).
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: HashMap<&'a str, usize>,
        low: HashMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        t.index.insert(v, t.next);
        t.low.insert(v, t.next);
        t.next += 1;
        t.stack.push(v);
        t.on.insert(v);
        if let Some(ws) = t.edges.get(v) {
            for w in ws {
                let w = w.as_str();
                if !t.index.contains_key(w) {
                    visit(t, w);
                    let l = t.low[w].min(t.low[v]);
                    t.low.insert(v, l);
                } else if t.on.contains(w) {
                    let l = t.index[w].min(t.low[v]);
                    t.low.insert(v, l);
                }
            }
        }
        if t.low[v] == t.index[v] {
            let mut scc = Vec::new();
            loop {
                let w = t.stack.pop().unwrap();
                t.on.remove(w);
                scc.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                scc.sort();
                t.out.push(scc);
            }
        }
    }
    let mut t = T {
        edges,
        index: HashMap::new(),
        low: HashMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

fn report(krate: &Crate, edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let found = circles(edges);
    println!(
        "{} files, {} import edges, {} circles",
        krate.lines.len(),
        edges.values().map(BTreeSet::len).sum::<usize>(),
        found.len()
    );
    for c in &found {
        println!("circle of {} files: {}", c.len(), c.join(" "));
        for from in c {
            for to in edges.get(from).into_iter().flatten() {
                if c.contains(to) {
                    println!("    {from} -> {to}");
                }
            }
        }
    }
    let mut largest: Vec<_> = krate.lines.iter().collect();
    largest.sort_by(|a, b| b.1.cmp(a.1));
    for (file, lines) in largest.iter().take(8) {
        println!("{lines:>6} {file}");
    }
    found
}

fn starts(file: &str, prefix: &str) -> bool {
    file.strip_prefix("sim/")
        .is_some_and(|f| f.starts_with(prefix))
}

#[test]
fn the_import_graph_has_no_circle() {
    let krate = Crate::load();
    let edges = krate.edges();
    let found = report(&krate, &edges);
    assert!(found.is_empty(), "import circles: {found:#?}");
}

#[test]
fn imports_run_one_way() {
    let krate = Crate::load();
    let edges = krate.edges();
    // (importer prefix, imported prefix, why not)
    let never: &[(&str, &str, &str)] = &[
        ("world/", "api/", "the domain knows no HTTP"),
        ("world/", "app.rs", "the domain knows no HTTP"),
        ("world/", "state.rs", "the domain knows no HTTP"),
        ("ops.rs", "world/", "the operation engine is generic"),
        ("clock.rs", "ops.rs", "the clock knows no operations"),
        (
            "scenario.rs",
            "api/",
            "scenario files load into the world, not through HTTP",
        ),
        (
            "scenario.rs",
            "app.rs",
            "scenario files load into the world, not through start-up",
        ),
        (
            "scenario.rs",
            "state.rs",
            "scenario files load into the world, not the app state",
        ),
        (
            "input/",
            "api/",
            "inputs are parsed into world specs, below the surfaces",
        ),
        (
            "world/lcs/",
            "world/integration/",
            "the link depends on the portals, never the reverse",
        ),
        (
            "world/ppac/",
            "world/integration/",
            "the link depends on the portals, never the reverse",
        ),
        (
            "world/lcs/",
            "world/ppac/",
            "one portal's rules do not reach into the other's",
        ),
        (
            "world/ppac/",
            "world/lcs/",
            "one portal's rules do not reach into the other's",
        ),
    ];
    let surfaces = [
        "api/lcs/",
        "api/bap/",
        "api/ppapi/",
        "api/blob.rs",
        "api/auth/",
        "api/portal/",
        "api/control/",
    ];
    let mut broken = Vec::new();
    for (from, tos) in &edges {
        for to in tos {
            for (a, b, why) in never {
                if starts(from, a) && starts(to, b) {
                    broken.push(format!("{from} -> {to}: {why}"));
                }
            }
            for s in surfaces {
                for t in surfaces {
                    if s != t && starts(from, s) && starts(to, t) {
                        broken.push(format!(
                            "{from} -> {to}: a surface does not import another (share through api/pp.rs, world or state)"
                        ));
                    }
                }
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn no_source_file_grows_past_1000_lines() {
    let krate = Crate::load();
    let long: Vec<_> = krate
        .lines
        .iter()
        .filter(|(_, n)| **n > 1000)
        .map(|(f, n)| format!("{f}: {n} lines"))
        .collect();
    assert!(long.is_empty(), "split by concept: {long:#?}");
}
