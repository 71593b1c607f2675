//! The tidy test: the shape of the code, checked where lints can't see (STYLE convention 13).
//!
//! Each rule is one test named as a sentence. A rule that today's code does not meet yet has an
//! explicit allowlist next to it that works as a ratchet: it may only shrink. A failure names the
//! file and line, the rule, and what to do.
//!
//! Run it with `cargo nextest run -p tidy`.

use proc_macro2::{Span, TokenStream, TokenTree};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use syn::spanned::Spanned;
use syn::visit::Visit;

// ---------------------------------------------------------------------------------------------
// Rule 1: functions are short.

/// STYLE: "aim under ~70 lines" for a function.
const FN_LINES_MAX: usize = 70;

/// The crates whose functions are measured: every crate of the workspace but this one (the
/// simulators and the signature crate have no long function today, so they cost nothing).
const MEASURED_CRATES: &[&str] = &[
    "miaodan",
    "miaodan-assistant",
    "miaodan-domain",
    "miaodan-server",
    "miaodan-store",
    "simcarrier",
    "simcrowd",
    "simpay",
    "webhook-signature",
];

/// Functions longer than [`FN_LINES_MAX`] today, with their length today, sorted; keyed by
/// `file::function` (`file::Type::method` for a method, `file::outer::inner` for a nested fn).
/// A ratchet: an entry may only shrink. Split a function and lower (or remove) its entry;
/// never raise one, never add one.
const LONG_FUNCTIONS: &[(&str, usize)] = &[
    (
        "crates/miaodan-domain/src/fulfillment/dispatch.rs::decide_dispatch",
        106,
    ),
    (
        "crates/miaodan-domain/src/payments/mod.rs::PaymentIntent::record_charge",
        114,
    ),
    ("crates/miaodan-server/src/demo/mod.rs::load_shop", 121),
    ("crates/miaodan-server/src/flows/payments/reconcile.rs::report", 210),
    (
        "crates/miaodan-server/src/http/openapi.rs::ProblemResponses::modify",
        76,
    ),
    ("crates/miaodan/src/bench/checkout.rs::engine", 75),
    ("crates/miaodan/src/bench/checkout.rs::http", 83),
    ("crates/miaodan/src/bench/fulfillment.rs::run", 98),
    ("crates/miaodan/src/bench/fulfillment.rs::run_thread", 83),
    ("crates/miaodan/src/reconcile.rs::print", 96),
];

#[test]
fn no_function_outside_tests_is_longer_than_seventy_lines() {
    let mut measured = BTreeMap::new();
    for source in sources(MEASURED_CRATES) {
        for item in walk(&source).functions {
            let key = format!("{}::{}", source.path, item.name);
            let entry = measured.entry(key).or_insert((item.line, item.lines));
            if item.lines > entry.1 {
                *entry = (item.line, item.lines);
            }
        }
    }
    let listed: BTreeMap<&str, usize> = LONG_FUNCTIONS.iter().copied().collect();
    let mut problems = Vec::new();
    for (key, &(line, lines)) in &measured {
        let at = at_line(key, line);
        match listed.get(key.as_str()) {
            None if lines > FN_LINES_MAX => problems.push(format!(
                "{at}: `{key}` is {lines} lines, over the limit of {FN_LINES_MAX} (STYLE: aim under ~70 \
                 lines). Split it into named steps; the allowlist is for functions that were long before \
                 this test, not for new ones."
            )),
            Some(&recorded) if lines > recorded => problems.push(format!(
                "{at}: `{key}` grew from {recorded} to {lines} lines; it is on LONG_FUNCTIONS so that it \
                 shrinks, not grows. Move what you added (or more) into a function of its own."
            )),
            Some(_) if lines <= FN_LINES_MAX => problems.push(format!(
                "{at}: `{key}` is now {lines} lines, within the limit: remove its entry from \
                 LONG_FUNCTIONS in crates/tidy/tests/tidy.rs so it stays short."
            )),
            Some(&recorded) if lines < recorded => problems.push(format!(
                "{at}: `{key}` shrank from {recorded} to {lines} lines, well done: lower its entry in \
                 LONG_FUNCTIONS (crates/tidy/tests/tidy.rs) to {lines} so the ratchet keeps the gain."
            )),
            _ => {}
        }
    }
    for key in listed.keys() {
        if !measured.contains_key(*key) {
            problems.push(format!(
                "crates/tidy/tests/tidy.rs: LONG_FUNCTIONS lists `{key}`, which no longer exists: remove \
                 its entry (if it was renamed or moved, it must fit in {FN_LINES_MAX} lines or keep its \
                 old length under its new name)."
            ));
        }
    }
    if !problems.is_empty() {
        let mut today = String::new();
        for (key, &(_, lines)) in &measured {
            if lines > FN_LINES_MAX {
                let _ = writeln!(today, "    (\"{key}\", {lines}),");
            }
        }
        problems.push(format!("For reference, the functions over the limit today:\n{today}"));
    }
    report("functions are at most 70 lines", &problems);
}

// ---------------------------------------------------------------------------------------------
// Rule 2: no saturating arithmetic on invariant-carrying counters in the core.

/// The functions of the core that may use `saturating_sub`, with why: arithmetic on time, or a
/// clamp whose zero is a meaning rather than a hidden broken invariant. Stock, money and
/// capacity counts must never go below zero: use `checked_sub(..).expect("…")` so a broken
/// invariant stops the shard instead of being rounded away.
const SATURATING_SUB_ALLOWED: &[(&str, &str, &str)] = &[
    (
        "crates/miaodan-domain/src/fulfillment/capacity.rs",
        "CapacityBook::next_slot",
        "headroom = limit - booked, clamped: a limit lowered below what is already booked leaves no \
         room, which is a legal state, not a broken invariant",
    ),
    (
        "crates/miaodan-domain/src/logistics/shipment.rs",
        "ms_between",
        "milliseconds between two timestamps: time, not a count",
    ),
    (
        "crates/miaodan-domain/src/logistics/sla.rs",
        "thresholds",
        "1 ms minus the exception delay, an offset from the promise: time, not a count",
    ),
];

#[test]
fn the_core_saturates_only_time_never_stock_money_or_capacity() {
    let mut problems = Vec::new();
    let mut used = vec![false; SATURATING_SUB_ALLOWED.len()];
    for source in sources(&["miaodan-domain"]) {
        for ident in walk(&source).idents.iter().filter(|i| i.name == "saturating_sub") {
            let allowed = SATURATING_SUB_ALLOWED
                .iter()
                .position(|(file, function, _)| *file == source.path && *function == ident.scope);
            match allowed {
                Some(index) => used[index] = true,
                None => problems.push(format!(
                    "{}: `saturating_sub` in `{}`: the core does not round a counter of stock, money or \
                     capacity to zero, that hides a broken invariant. Use `checked_sub(..).expect(\"…\")`; \
                     if it is arithmetic on time, add (file, function, reason) to SATURATING_SUB_ALLOWED \
                     in crates/tidy/tests/tidy.rs.",
                    at_line(&source.path, ident.line),
                    scope_or_file(&ident.scope),
                )),
            }
        }
    }
    for ((file, function, _), used) in SATURATING_SUB_ALLOWED.iter().zip(used) {
        if !used {
            problems.push(format!(
                "crates/tidy/tests/tidy.rs: SATURATING_SUB_ALLOWED lists `{function}` in {file}, which no \
                 longer uses `saturating_sub` (or was renamed): remove (or rename) its entry."
            ));
        }
    }
    report("saturating_sub only on time in the core", &problems);
}

// ---------------------------------------------------------------------------------------------
// Rule 3: the pure core stays pure.

/// What the core never mentions (outside comments and strings), and why.
const IMPURE: &[(&[&str], &str)] = &[
    (&["SystemTime"], "the wall clock: time comes in with the command"),
    (
        &["Instant", ":", ":", "now"],
        "the clock: time comes in with the command",
    ),
    (&["std", ":", ":", "fs"], "files: the core does no IO"),
    (&["std", ":", ":", "net"], "the network: the core does no IO"),
    (
        &["std", ":", ":", "thread"],
        "threads: the core is one synchronous writer's logic",
    ),
    (&["tokio"], "the async runtime: the core is synchronous"),
    (&["rand"], "randomness: ids and choices come in with the command"),
    (&["async"], "async code: the core is synchronous"),
    (&[".", "await"], "async code: the core is synchronous"),
];

#[test]
fn the_core_depends_on_serde_only() {
    let manifest = manifest("miaodan-domain");
    let mut problems = Vec::new();
    for (section, name) in dependencies(&manifest) {
        // Tests may parse JSON (that deserialisation goes through the constructors) and draw
        // random cases; the core itself never does either.
        let test_tool = section == "dev-dependencies" && (name == "proptest" || name == "serde_json");
        if section == "dependencies" && name == "serde" || test_tool {
            continue;
        }
        problems.push(format!(
            "crates/miaodan-domain/Cargo.toml: [{section}] `{name}`: the pure core depends on `serde` only \
             (and `proptest`, `serde_json` for its tests). Put what needs `{name}` in miaodan-store or miaodan-server."
        ));
    }
    report("the core depends on serde only", &problems);
}

#[test]
fn the_core_mentions_no_clock_io_thread_randomness_or_async() {
    let mut problems = Vec::new();
    for source in sources(&["miaodan-domain"]) {
        let tokens = flat_tokens(&source);
        for (pattern, why) in IMPURE {
            for line in find_sequence(&tokens, pattern) {
                problems.push(format!(
                    "{}: mentions `{}`, {why}. The core is pure: no IO, no clock, no randomness; keep this \
                     in miaodan-server and pass the value in with the command.",
                    at_line(&source.path, line),
                    pattern.concat(),
                ));
            }
        }
    }
    report("the core is pure", &problems);
}

/// `HashMap`/`HashSet` fields of the core that do not say (yet) that they are never iterated.
/// A ratchet: add the comment (after checking that it is true) and remove the entry.
const HASHED_FIELDS_UNCOMMENTED: &[(&str, &str, &str)] = &[];

#[test]
fn every_hashed_field_of_the_core_says_it_is_never_iterated() {
    let mut problems = Vec::new();
    let mut used = vec![false; HASHED_FIELDS_UNCOMMENTED.len()];
    for source in sources(&["miaodan-domain"]) {
        let lines: Vec<&str> = source.text.lines().collect();
        for field in walk(&source).hashed_fields {
            let said = comment_above(&lines, field.line)
                .to_lowercase()
                .contains("never iterated");
            let listed = HASHED_FIELDS_UNCOMMENTED
                .iter()
                .position(|(file, name, _)| *file == source.path && *name == field.name);
            match (said, listed) {
                (true, None) | (false, Some(_)) => {}
                (false, None) => problems.push(format!(
                    "{}: `{}` is a HashMap/HashSet without a comment above saying it is looked up, never \
                     iterated. Hash order differs between runs, so iterating it into an outcome, an \
                     effect or a reply breaks determinism: use a BTreeMap/BTreeSet, or add the comment \
                     (\"looked up, never iterated into output\") if that is true.",
                    at_line(&source.path, field.line),
                    field.name,
                )),
                (true, Some(_)) => problems.push(format!(
                    "{}: `{}` now says it is never iterated: remove its entry from \
                     HASHED_FIELDS_UNCOMMENTED in crates/tidy/tests/tidy.rs.",
                    at_line(&source.path, field.line),
                    field.name,
                )),
            }
            if let Some(index) = listed {
                used[index] = true;
            }
        }
    }
    for ((file, name, _), used) in HASHED_FIELDS_UNCOMMENTED.iter().zip(used) {
        if !used {
            problems.push(format!(
                "crates/tidy/tests/tidy.rs: HASHED_FIELDS_UNCOMMENTED lists `{name}` in {file}, which is no \
                 longer a hashed field there: remove its entry."
            ));
        }
    }
    report("hashed fields are never iterated", &problems);
}

// ---------------------------------------------------------------------------------------------
// Rule 4: HTTP stays at the edge.

/// What only the HTTP edge mentions (outside comments and strings).
const HTTP_WORDS: &[&[&str]] = &[
    &["axum"],
    &["StatusCode"],
    &["ApiError"],
    &["crate", ":", ":", "http"],
    &["http", ":", ":"],
];

/// The HTTP edge of miaodan-server: these may speak HTTP, and why. Every other file may not:
/// the shard writer (`sequencer.rs`), `directory.rs`, `ids.rs`, `clock.rs`, `flows/`, …
const HTTP_EDGE: &[(&str, &str)] = &[
    (
        "crates/miaodan-server/src/http/",
        "the HTTP/JSON layer: routers, handlers, problem+json, OpenAPI",
    ),
    ("crates/miaodan-server/src/app.rs", "builds the router and serves it"),
    (
        "crates/miaodan-server/src/console/",
        "the merchant console: serves its shell and embedded files; its data comes through the API",
    ),
    (
        "crates/miaodan-server/src/auth.rs",
        "the role extractors: bearer token in, 401/403 out",
    ),
    (
        "crates/miaodan-server/src/idempotency.rs",
        "stores and replays HTTP answers per Idempotency-Key",
    ),
    (
        "crates/miaodan-server/src/metrics_setup.rs",
        "the recorder behind the /metrics endpoint",
    ),
];

#[test]
fn only_the_http_edge_speaks_http() {
    let mut problems = Vec::new();
    for source in sources(&["miaodan-server"]) {
        if HTTP_EDGE.iter().any(|(edge, _)| source.path.starts_with(edge)) {
            continue;
        }
        let tokens = flat_tokens(&source);
        let mut hits: Vec<(usize, String)> = HTTP_WORDS
            .iter()
            .flat_map(|pattern| {
                find_sequence(&tokens, pattern)
                    .into_iter()
                    .map(|line| (line, pattern.concat()))
            })
            .collect();
        hits.sort();
        for (line, word) in hits {
            problems.push(format!(
                "{}: mentions `{word}` outside the HTTP edge. Only crates/miaodan-server/src/http/ \
                 (and the files in HTTP_EDGE) speak HTTP: return a domain or shard error here and \
                 let the handler turn it into a status code.",
                at_line(&source.path, line)
            ));
        }
    }
    report("HTTP stays at the edge", &problems);
}

#[test]
fn the_core_and_the_store_do_not_depend_on_http() {
    let mut problems = Vec::new();
    for krate in ["miaodan-domain", "miaodan-store"] {
        for (section, name) in dependencies(&manifest(krate)) {
            if [
                "axum",
                "hyper",
                "http",
                "http-body-util",
                "hyper-util",
                "utoipa",
                "utoipa-axum",
            ]
            .contains(&name.as_str())
            {
                problems.push(format!(
                    "crates/{krate}/Cargo.toml: [{section}] `{name}`: {krate} does not speak HTTP; only \
                     miaodan-server's http/ does. Move the code that needs it there."
                ));
            }
        }
    }
    report("the core and the store do not depend on HTTP", &problems);
}

// ---------------------------------------------------------------------------------------------
// Rule 5: every capability has its folder and its book, with private state.

const CAPABILITIES: &[&str] = &[
    "catalog",
    "inventory",
    "orders",
    "flash_sale",
    "payments",
    "fulfillment",
    "logistics",
];

/// Capabilities whose state is not in a `book.rs` yet: the test looks for it in `mod.rs`
/// instead (its fields must still be private). A ratchet: move the state to `book.rs` and
/// remove the entry.
const BOOK_IN_MOD_RS_TODAY: &[&str] = &[];

#[test]
fn every_capability_has_its_folder_and_a_book_with_private_fields() {
    let domain = "crates/miaodan-domain/src";
    let mut problems = Vec::new();
    for capability in CAPABILITIES {
        let folder = format!("{domain}/{capability}");
        if !root().join(&folder).join("mod.rs").is_file() {
            problems.push(format!(
                "{folder}/mod.rs: missing. Each capability lives in its own folder with a mod.rs (its \
                 commands) and a book.rs (its state); see ARCHITECTURE.md's codemap."
            ));
            continue;
        }
        let in_mod_rs = BOOK_IN_MOD_RS_TODAY.contains(capability);
        let book = format!("{folder}/{}", if in_mod_rs { "mod.rs" } else { "book.rs" });
        if in_mod_rs && root().join(&folder).join("book.rs").is_file() {
            problems.push(format!(
                "{folder}/book.rs: exists now, well done: remove \"{capability}\" from BOOK_IN_MOD_RS_TODAY \
                 in crates/tidy/tests/tidy.rs."
            ));
        }
        let Some(source) = read_source(&book) else {
            problems.push(format!(
                "{book}: missing. A capability's state is a `pub struct …Book` with private fields in its \
                 book.rs, next to the commands that change it."
            ));
            continue;
        };
        let books: Vec<&syn::ItemStruct> = source
            .file
            .items
            .iter()
            .filter_map(|item| match item {
                syn::Item::Struct(s) if is_pub(&s.vis) && is_book_name(&s.ident.to_string()) => Some(s),
                _ => None,
            })
            .collect();
        if books.is_empty() {
            problems.push(format!(
                "{book}: defines no `pub struct …Book` (or `Inventory`, `FlashSales`): the capability's state \
                 belongs here, with private fields."
            ));
        }
        for book in books {
            problems.extend(public_fields(&source, book));
        }
    }
    let shard = format!("{domain}/shard.rs");
    match read_source(&shard) {
        None => problems.push(format!("{shard}: missing; it composes the capabilities' books.")),
        Some(source) => {
            let state = source.file.items.iter().find_map(|item| match item {
                syn::Item::Struct(s) if s.ident == "ShardState" => Some(s),
                _ => None,
            });
            match state {
                None => problems.push(format!("{shard}: `ShardState` is missing; it composes the books.")),
                Some(state) => problems.extend(public_fields(&source, state)),
            }
        }
    }
    report("capabilities keep their state private in their book", &problems);
}

fn is_book_name(name: &str) -> bool {
    name.ends_with("Book") || name == "Inventory" || name == "FlashSales"
}

fn is_pub(vis: &syn::Visibility) -> bool {
    matches!(vis, syn::Visibility::Public(_))
}

/// Fields visible beyond the capability's folder: `pub`, `pub(crate)`, `pub(in crate::…)`.
fn public_fields(source: &Source, item: &syn::ItemStruct) -> Vec<String> {
    item.fields
        .iter()
        .filter(|field| match &field.vis {
            syn::Visibility::Inherited => false,
            syn::Visibility::Restricted(r) => !(r.path.is_ident("super") || r.path.is_ident("self")),
            syn::Visibility::Public(_) => true,
        })
        .map(|field| {
            let name = field
                .ident
                .as_ref()
                .map_or_else(|| "a tuple field".to_owned(), |i| format!("`{i}`"));
            format!(
                "{}: {} of `{}` is visible outside its capability. A book's state is private (or \
                 `pub(super)` for its own commands); other capabilities and the shell go through its \
                 methods.",
                at_line(&source.path, line_of(field.span())),
                name,
                item.ident,
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Walking the workspace.

struct Source {
    /// Relative to the workspace root, with `/`.
    path: String,
    text: String,
    file: syn::File,
    /// The file of a `#[cfg(test)] mod name;`: test code as a whole.
    test_only: bool,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file under `crates/<crate>/src`, parsed, in a stable order.
fn sources(crates: &[&str]) -> Vec<Source> {
    let mut paths = Vec::new();
    for krate in crates {
        rs_files(&root().join("crates").join(krate).join("src"), &mut paths);
    }
    paths.sort();
    let mut sources = paths
        .iter()
        .map(|path| {
            let relative = path
                .strip_prefix(root())
                .unwrap_or(path)
                .to_string_lossy()
                .replace('\\', "/");
            read_source(&relative).unwrap_or_else(|| panic!("{relative}: could not be read"))
        })
        .collect::<Vec<_>>();
    let test_modules: Vec<String> = sources.iter().flat_map(test_module_paths).collect();
    for source in &mut sources {
        source.test_only = test_modules
            .iter()
            .any(|module| source.path == format!("{module}.rs") || source.path.starts_with(&format!("{module}/")));
    }
    sources
}

/// Where the files of a source's out-of-line `#[cfg(test)] mod name;` live, without `.rs`.
fn test_module_paths(source: &Source) -> Vec<String> {
    let dir = match source.path.rsplit_once('/') {
        Some((dir, "mod.rs" | "lib.rs" | "main.rs")) => dir.to_owned(),
        _ => source.path.trim_end_matches(".rs").to_owned(),
    };
    source
        .file
        .items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Mod(m) if m.content.is_none() && is_test(&m.attrs) => Some(format!("{dir}/{}", m.ident)),
            _ => None,
        })
        .collect()
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rs_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn read_source(relative: &str) -> Option<Source> {
    let text = fs::read_to_string(root().join(relative)).ok()?;
    let file = syn::parse_file(&text).unwrap_or_else(|e| {
        let start = e.span().start();
        panic!("{relative}:{}:{}: does not parse: {e}", start.line, start.column + 1)
    });
    Some(Source {
        path: relative.to_owned(),
        text,
        file,
        test_only: false,
    })
}

fn manifest(krate: &str) -> toml::Table {
    let path = format!("crates/{krate}/Cargo.toml");
    let text = fs::read_to_string(root().join(&path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.parse().unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// (section, name) of every dependency of a manifest, target-specific ones included.
fn dependencies(manifest: &toml::Table) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut tables = vec![(String::new(), manifest)];
    if let Some(toml::Value::Table(targets)) = manifest.get("target") {
        for (target, table) in targets {
            if let toml::Value::Table(table) = table {
                tables.push((format!("target.{target}."), table));
            }
        }
    }
    for (prefix, table) in tables {
        for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
            if let Some(toml::Value::Table(deps)) = table.get(section) {
                found.extend(deps.keys().map(|name| (format!("{prefix}{section}"), name.clone())));
            }
        }
    }
    found
}

/// What one pass over a file's syntax tree finds, outside test code.
#[derive(Default)]
struct Found {
    functions: Vec<Function>,
    idents: Vec<Ident>,
    hashed_fields: Vec<Field>,
}

struct Function {
    /// `Type::method`, `function`, or `outer::inner` for a nested one.
    name: String,
    line: usize,
    lines: usize,
}

struct Ident {
    name: String,
    /// The enclosing function, as in [`Function::name`]; empty at item level.
    scope: String,
    line: usize,
}

struct Field {
    /// `Struct::field` (or `Enum::Variant::field`).
    name: String,
    line: usize,
}

/// What the syntax-tree rules see of a file: nothing of a test-only file.
fn walk(source: &Source) -> Found {
    let mut walker = Walker::default();
    if !source.test_only {
        walker.visit_file(&source.file);
    }
    walker.found
}

#[derive(Default)]
struct Walker {
    /// Names of the enclosing types, traits and functions.
    scope: Vec<String>,
    /// Names of the enclosing functions only, for [`Ident::scope`].
    in_function: usize,
    found: Found,
}

impl Walker {
    fn function(&mut self, name: &syn::Ident, start: Span, end: Span, visit: impl FnOnce(&mut Walker)) {
        self.scope.push(name.to_string());
        let (line, end) = (line_of(start), end.end().line);
        self.found.functions.push(Function {
            name: self.scope.join("::"),
            line,
            lines: end + 1 - line,
        });
        self.in_function += 1;
        visit(self);
        self.in_function -= 1;
        self.scope.pop();
    }

    fn within(&mut self, name: String, visit: impl FnOnce(&mut Walker)) {
        self.scope.push(name);
        visit(self);
        self.scope.pop();
    }

    fn ident(&mut self, ident: &proc_macro2::Ident) {
        let scope = if self.in_function > 0 {
            self.scope.join("::")
        } else {
            String::new()
        };
        self.found.idents.push(Ident {
            name: ident.to_string(),
            scope,
            line: line_of(ident.span()),
        });
    }

    fn fields(&mut self, owner: String, fields: &syn::Fields) {
        for field in fields {
            if is_hashed(&field.ty) {
                let name = field.ident.as_ref().map_or_else(|| "0".to_owned(), ToString::to_string);
                self.found.hashed_fields.push(Field {
                    name: format!("{owner}::{name}"),
                    line: field
                        .ident
                        .as_ref()
                        .map_or_else(|| line_of(field.ty.span()), |i| line_of(i.span())),
                });
            }
        }
    }
}

/// Whether a type names `HashMap` or `HashSet` anywhere in it.
fn is_hashed(ty: &syn::Type) -> bool {
    struct Hashed(bool);
    impl<'ast> Visit<'ast> for Hashed {
        fn visit_ident(&mut self, ident: &'ast proc_macro2::Ident) {
            self.0 |= ident == "HashMap" || ident == "HashSet";
        }
    }
    let mut hashed = Hashed(false);
    hashed.visit_type(ty);
    hashed.0
}

/// `#[test]`, `#[tokio::test]`, `#[cfg(test)]` and the like: code the rules do not measure.
fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        let path = attr.path();
        if path.segments.last().is_some_and(|s| s.ident == "test") {
            return true;
        }
        path.is_ident("cfg")
            && attr.meta.require_list().is_ok_and(|list| {
                list.tokens
                    .clone()
                    .into_iter()
                    .any(|t| matches!(t, TokenTree::Ident(i) if i == "test"))
            })
    })
}

fn type_name(ty: &syn::Type) -> String {
    match ty {
        syn::Type::Path(p) => p
            .path
            .segments
            .last()
            .map_or_else(|| "_".to_owned(), |s| s.ident.to_string()),
        syn::Type::Reference(r) => type_name(&r.elem),
        _ => "_".to_owned(),
    }
}

impl<'ast> Visit<'ast> for Walker {
    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        if !is_test(&item.attrs) {
            self.within(item.ident.to_string(), |w| syn::visit::visit_item_mod(w, item));
        }
    }

    fn visit_item_impl(&mut self, item: &'ast syn::ItemImpl) {
        if !is_test(&item.attrs) {
            self.within(type_name(&item.self_ty), |w| syn::visit::visit_item_impl(w, item));
        }
    }

    fn visit_item_trait(&mut self, item: &'ast syn::ItemTrait) {
        if !is_test(&item.attrs) {
            self.within(item.ident.to_string(), |w| syn::visit::visit_item_trait(w, item));
        }
    }

    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        if !is_test(&item.attrs) {
            let (start, end) = (item.sig.fn_token.span, item.block.brace_token.span.close());
            self.function(&item.sig.ident, start, end, |w| syn::visit::visit_item_fn(w, item));
        }
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        if !is_test(&item.attrs) {
            let (start, end) = (item.sig.fn_token.span, item.block.brace_token.span.close());
            self.function(&item.sig.ident, start, end, |w| syn::visit::visit_impl_item_fn(w, item));
        }
    }

    fn visit_trait_item_fn(&mut self, item: &'ast syn::TraitItemFn) {
        if is_test(&item.attrs) {
            return;
        }
        match &item.default {
            Some(block) => {
                let (start, end) = (item.sig.fn_token.span, block.brace_token.span.close());
                self.function(&item.sig.ident, start, end, |w| {
                    syn::visit::visit_trait_item_fn(w, item)
                });
            }
            None => syn::visit::visit_trait_item_fn(self, item),
        }
    }

    fn visit_item_struct(&mut self, item: &'ast syn::ItemStruct) {
        if !is_test(&item.attrs) {
            self.fields(item.ident.to_string(), &item.fields);
            syn::visit::visit_item_struct(self, item);
        }
    }

    fn visit_item_enum(&mut self, item: &'ast syn::ItemEnum) {
        if !is_test(&item.attrs) {
            for variant in &item.variants {
                self.fields(format!("{}::{}", item.ident, variant.ident), &variant.fields);
            }
            syn::visit::visit_item_enum(self, item);
        }
    }

    fn visit_ident(&mut self, ident: &'ast proc_macro2::Ident) {
        self.ident(ident);
    }

    /// A macro's arguments are tokens to syn: their identifiers count too.
    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        fn idents(walker: &mut Walker, tokens: TokenStream) {
            for token in tokens {
                match token {
                    TokenTree::Ident(i) => walker.ident(&i),
                    TokenTree::Group(g) => idents(walker, g.stream()),
                    _ => {}
                }
            }
        }
        syn::visit::visit_macro(self, mac);
        idents(self, mac.tokens.clone());
    }
}

/// A file as a flat list of identifiers and punctuation with their lines: comments are gone, and
/// literals (strings, doc comments) are left out, so only code can match.
fn flat_tokens(source: &Source) -> Vec<(String, usize)> {
    fn flatten(tokens: TokenStream, out: &mut Vec<(String, usize)>) {
        for token in tokens {
            match token {
                TokenTree::Ident(i) => out.push((i.to_string(), line_of(i.span()))),
                TokenTree::Punct(p) => out.push((p.as_char().to_string(), line_of(p.span()))),
                TokenTree::Group(g) => flatten(g.stream(), out),
                TokenTree::Literal(_) => out.push((String::new(), line_of(token.span()))),
            }
        }
    }
    let tokens: TokenStream = source
        .text
        .parse()
        .unwrap_or_else(|e| panic!("{}: does not tokenize: {e}", source.path));
    let mut out = Vec::new();
    flatten(tokens, &mut out);
    out
}

/// The lines where `pattern` occurs as consecutive tokens.
fn find_sequence(tokens: &[(String, usize)], pattern: &[&str]) -> Vec<usize> {
    tokens
        .windows(pattern.len())
        .filter(|window| window.iter().zip(pattern).all(|((token, _), want)| token == want))
        .map(|window| window[0].1)
        .collect()
}

/// The comment and attribute lines right above line `line` (1-based), joined.
fn comment_above(lines: &[&str], line: usize) -> String {
    let mut text = Vec::new();
    for above in lines[..line.saturating_sub(1)].iter().rev() {
        let trimmed = above.trim_start();
        if trimmed.starts_with("//") || trimmed.starts_with("#[") {
            text.push(trimmed);
        } else {
            break;
        }
    }
    text.reverse();
    text.join(" ")
}

fn line_of(span: Span) -> usize {
    span.start().line
}

fn at_line(path: &str, line: usize) -> String {
    let file = path.split("::").next().unwrap_or(path);
    format!("{file}:{line}")
}

fn scope_or_file(scope: &str) -> &str {
    if scope.is_empty() { "(item level)" } else { scope }
}

fn report(rule: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "tidy: {rule}: {} problem(s)\n\n{}\n",
        problems.len(),
        problems.join("\n\n")
    );
}

/// The Grafana dashboard in `ops/grafana/` charts only series the server records: a renamed
/// metric must not leave an empty panel behind.
#[test]
fn every_series_the_dashboard_charts_is_one_the_server_records() {
    let dashboard = std::fs::read_to_string(root().join("ops/grafana/miaodan-dashboard.json")).unwrap_or_default();
    assert!(
        dashboard.contains("\"panels\""),
        "ops/grafana/miaodan-dashboard.json is missing"
    );
    let mut recorded = String::new();
    for source in sources(&["miaodan-server"]) {
        recorded.push_str(&source.text);
    }
    let mut charted: Vec<String> = dashboard
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("miaodan_"))
        .map(|word| word.trim_end_matches("_bucket").to_string())
        .collect();
    charted.sort();
    charted.dedup();
    assert!(charted.len() >= 10, "the dashboard charts {} series", charted.len());
    let missing: Vec<&String> = charted
        .iter()
        .filter(|name| !recorded.contains(&format!("\"{name}\"")))
        .collect();
    assert!(
        missing.is_empty(),
        "the dashboard charts series nobody records: {missing:?}"
    );
}

/// Every file of the console's `assets/` is embedded and served (listed in `console/mod.rs`'s
/// `ASSETS`), and every listed file exists: a page module forgotten in the list would be a 404
/// in the browser, which only a browser test would otherwise notice.
#[test]
fn every_console_asset_is_served_and_every_served_asset_exists() {
    let dir = root().join("crates/miaodan-server/src/console/assets");
    let mut on_disk = Vec::new();
    let mut pending = vec![dir.clone()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).expect("the console's assets folder") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(relative) = path.strip_prefix(&dir) {
                on_disk.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let module =
        std::fs::read_to_string(root().join("crates/miaodan-server/src/console/mod.rs")).expect("console/mod.rs");
    let listed: Vec<String> = module
        .lines()
        .filter_map(|line| {
            line.trim()
                .strip_prefix('"')?
                .split_once("\" =>")
                .map(|(path, _)| path.to_string())
        })
        .collect();
    on_disk.sort();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(on_disk, sorted, "console/assets/ and console/mod.rs's ASSETS differ");
}
