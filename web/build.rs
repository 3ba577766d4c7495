//! Compiles the page's files (everything under `assets/` but scripts, notes and licences) into the
//! binary, each with a gzip copy made here, once, at the best compression (a request then costs no
//! compression time) and a content-hashed name that browsers may cache for a year. `index.html`'s
//! `src="/..."` and `href="/..."` references to these files are rewritten to the hashed names, so a
//! new build's page loads its own files and never a cached old one.
//!
//! Writes `$OUT_DIR/assets.rs` (the table `src/assets.rs` includes) and the bytes it includes.

use flate2::write::GzEncoder;
use flate2::Compression;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Hex digits of the SHA-256 kept in a hashed name and an ETag: 40 bits, plenty to tell two
/// versions of one file apart.
const HASH_HEX: usize = 10;

/// One file as found under `assets/`.
struct Found {
    /// `/` and the path under `assets/`, with `/` separators.
    path: String,
    bytes: Vec<u8>,
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    // A directory: Cargo looks at every file under it, so editing the page rebuilds.
    println!("cargo:rerun-if-changed=assets");
    println!("cargo:rerun-if-changed=build.rs");
    let mut found = Vec::new();
    walk(&root, &root, &mut found);
    found.sort_by(|a, b| a.path.cmp(&b.path));
    if !found.iter().any(|f| f.path == "/index.html") {
        panic!("web/assets/index.html is missing: the page starts there");
    }

    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let hashed: Vec<(String, Option<String>, String)> = found
        .iter()
        .map(|f| {
            let hash = short_hash(&f.bytes);
            // index.html is what `/` serves: always asked again, so it needs no hashed name.
            let name = (f.path != "/index.html").then(|| hashed_name(&f.path, &hash));
            (f.path.clone(), name, hash)
        })
        .collect();

    let mut table = String::from("// Written by web/build.rs from web/assets/.\n\n");
    table.push_str("/// Every asset, by plain path.\npub(crate) static ASSETS: &[Asset] = &[\n");
    for (i, f) in found.iter().enumerate() {
        let (_, hashed_path, mut hash) = hashed[i].clone();
        let content_type = content_type(&f.path).unwrap_or_else(|| {
            panic!("web/assets{}: no content type for this kind of file; add it in web/build.rs", f.path)
        });
        // The raw bytes: the file itself, except index.html whose references are rewritten.
        let (raw_file, raw) = if f.path == "/index.html" {
            let text = std::str::from_utf8(&f.bytes).expect("web/assets/index.html is not UTF-8");
            let rewritten = rewrite_references(text, &hashed).into_bytes();
            hash = short_hash(&rewritten);
            let file = out.join("index.html");
            std::fs::write(&file, &rewritten).expect("write OUT_DIR/index.html");
            (file, rewritten)
        } else {
            // A copy in OUT_DIR, not the source's absolute path: a target dir copied from another
            // checkout would otherwise include that checkout's files (the build script does not
            // run again while this checkout's assets are unchanged).
            let file = out.join(format!("asset-{i}.raw"));
            std::fs::write(&file, &f.bytes).expect("write an asset's copy to OUT_DIR");
            (file, f.bytes.clone())
        };
        let gzipped = gzip(&raw);
        // Already compressed (an image, a font): serve it as it is.
        let gzip_file = (gzipped.len() < raw.len()).then(|| {
            let file = out.join(format!("asset-{i}.gz"));
            std::fs::write(&file, &gzipped).expect("write a gzip copy to OUT_DIR");
            file
        });
        table.push_str(&format!(
            "    Asset {{\n        path: {:?},\n        hashed: {:?},\n        hash: {:?},\n        \
             content_type: {:?},\n        raw: include_bytes!({:?}),\n        gzip: {},\n    }},\n",
            f.path,
            hashed_path,
            hash,
            content_type,
            path_str(&raw_file),
            match &gzip_file {
                Some(file) => format!("Some(include_bytes!({:?}))", path_str(file)),
                None => "None".to_owned(),
            },
        ));
    }
    table.push_str("];\n");
    std::fs::write(out.join("assets.rs"), table).expect("write OUT_DIR/assets.rs");
}

/// Collects the files under `dir`, skipping what is not part of the page.
fn walk(root: &Path, dir: &Path, found: &mut Vec<Found>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
        let source = entry.path();
        let name = entry.file_name().into_string().unwrap_or_else(|n| panic!("{n:?}: not a UTF-8 file name"));
        if name.starts_with('.') {
            continue;
        }
        let kind = entry.file_type().unwrap_or_else(|e| panic!("{}: {e}", source.display()));
        if kind.is_dir() {
            walk(root, &source, found);
            continue;
        }
        if !is_served(&name) {
            continue;
        }
        let rel = source.strip_prefix(root).expect("under assets/");
        let parts: Vec<&str> = rel.iter().map(|p| p.to_str().expect("UTF-8 checked")).collect();
        let bytes = std::fs::read(&source).unwrap_or_else(|e| panic!("read {}: {e}", source.display()));
        found.push(Found { path: format!("/{}", parts.join("/")), bytes });
    }
}

/// Scripts that maintain the assets (`update-uplot.sh`), notes, licences and version stamps stay
/// in the repository.
fn is_served(name: &str) -> bool {
    !(name.ends_with(".sh") || name.ends_with(".md") || name.starts_with("LICENSE") || name == "VERSION")
}

fn content_type(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
    Some(match ext.as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "txt" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        _ => return None,
    })
}

fn short_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex[..HASH_HEX].to_owned()
}

/// `/dir/stem.<hash>.ext` (`/dir/name.<hash>` without an extension).
fn hashed_name(path: &str, hash: &str) -> String {
    let (dir, file) = path.rsplit_once('/').expect("starts with /");
    match file.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{dir}/{stem}.{hash}.{ext}"),
        _ => format!("{dir}/{file}.{hash}"),
    }
}

/// `index.html` with each `src="/X"` and `href="/X"` (either quote) that names an asset rewritten
/// to its hashed name. Other links (`/api/nodes`, `/metrics`) stay as they are.
fn rewrite_references(html: &str, hashed: &[(String, Option<String>, String)]) -> String {
    let mut out = String::with_capacity(html.len() + 256);
    let mut rest = html;
    while let Some(at) = next_reference(rest) {
        let (before, from) = rest.split_at(at.value);
        out.push_str(before);
        let end = from.find(at.quote).unwrap_or(from.len());
        let target = &from[..end];
        match hashed.iter().find(|(plain, _, _)| plain == target).and_then(|(_, h, _)| h.as_deref()) {
            Some(h) => out.push_str(h),
            None => out.push_str(target),
        }
        rest = &from[end..];
    }
    out.push_str(rest);
    out
}

struct Reference {
    /// Where the value starts (after the opening quote).
    value: usize,
    quote: char,
}

/// The next `src=` or `href=` attribute value in `html`.
fn next_reference(html: &str) -> Option<Reference> {
    let mut best: Option<Reference> = None;
    for attr in ["src=\"", "src='", "href=\"", "href='"] {
        let mut from = 0;
        while let Some(i) = html[from..].find(attr) {
            let i = from + i;
            // `data-src=` is not `src=`.
            let whole_word = html[..i].chars().next_back().is_none_or(|c| c.is_ascii_whitespace());
            if whole_word {
                let r = Reference { value: i + attr.len(), quote: attr.chars().last().expect("a quote") };
                if best.as_ref().is_none_or(|b| r.value < b.value) {
                    best = Some(r);
                }
                break;
            }
            from = i + attr.len();
        }
    }
    best
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    // No file name and no time in the header: the same input builds the same bytes.
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(bytes).expect("gzip into memory");
    gz.finish().expect("gzip into memory")
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("OUT_DIR and the manifest dir are UTF-8 paths")
}
