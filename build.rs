//! Fetches GraphiQL's browser bundles from the npm registry at build time — pinned versions,
//! checked against their published sha512 integrity — so the gateway serves GraphiQL itself:
//! offline, behind a firewall, under a strict Content-Security-Policy.
//!
//! A fetched tarball is kept in `$CARGO_HOME/cockpit-gateway-assets/` (`~/.cargo/…`), named by
//! its integrity and checked again before each use, so later builds need no registry. Set
//! `COCKPIT_GRAPHIQL_TARBALLS` to a folder holding the `.tgz` files `npm pack` makes (one per
//! package below) to build from those instead. With neither the tarballs nor the registry the
//! build fails saying so, unless `COCKPIT_GRAPHIQL=off`: then the gateway builds without
//! GraphiQL, and its page says why.
//!
//! Also marks the tests that need a service: `cfg(postgres_tests)` when `TEST_DATABASE_URL` is
//! set, `cfg(redis_tests)` when `TEST_REDIS_URL` is; without it those tests are ignored.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use sha2::{Digest, Sha512};

/// (package, version, npm's dist.integrity, files taken from the tarball). Each file lands in
/// `graphiql/<package slug>/<file name>`, so two packages may ship the same file name.
const PACKAGES: &[(&str, &str, &str, &[&str])] = &[
    (
        "react",
        "18.3.1",
        "sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ==",
        &["umd/react.production.min.js"],
    ),
    (
        "react-dom",
        "18.3.1",
        "sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw==",
        &["umd/react-dom.production.min.js"],
    ),
    (
        "graphiql",
        "3.9.0",
        "sha512-rJYFlHdBbug9+YbFSwRVvgfPjCayC7wHecZkx/qB4XLuQPFQZw/yB9pmHFtOJV6RiNBBHro3u1GdocKa3YcGRA==",
        &["graphiql.min.js", "graphiql.min.css"],
    ),
    // The graphql-transport-ws client GraphiQL runs subscriptions with.
    (
        "graphql-ws",
        "6.4.2",
        "sha512-wxhPhhOGJo8PbGDkBYVE76sZLDrS+GkyrR4bZECSLVbo0pZZNKs0HtBh2Ip/uaUuiVUxwO9ssI9R92buQfNSqQ==",
        &["umd/graphql-ws.min.js"],
    ),
    // The query builder, as a GraphiQL plugin; 3.2.6 is the release built against
    // @graphiql/react 0.29, the one graphiql 3.9.0 bundles.
    (
        "@graphiql/plugin-explorer",
        "3.2.6",
        "sha512-MXzG/zVNzZfes4Em253bHyAbD/lwwAZkPKvxCAQkjz0i3dtcv4uF3D8iqJ7214iu3SCphbORYZZUC93fik1yew==",
        &["dist/index.umd.js", "dist/style.css"],
    ),
];

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=COCKPIT_GRAPHIQL_TARBALLS");
    println!("cargo::rerun-if-env-changed=COCKPIT_GRAPHIQL");
    mark_service_tests();
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let assets = out.join("graphiql");
    std::fs::create_dir_all(&assets).expect("create the assets folder");
    let status = if std::env::var_os("COCKPIT_GRAPHIQL").is_some_and(|v| v == "off") {
        write_placeholders(&assets);
        "built with COCKPIT_GRAPHIQL=off".to_owned()
    } else {
        match fetch_all(&out, &assets) {
            Ok(()) => "available".to_owned(),
            Err(reason) => {
                println!("cargo::error={reason}");
                std::process::exit(1);
            }
        }
    };
    std::fs::write(assets.join("status.txt"), status).expect("write status");
}

/// The cfg each test service's URL sets, for every target of this package (tests included).
const SERVICE_TESTS: &[(&str, &str)] = &[
    ("TEST_DATABASE_URL", "postgres_tests"),
    ("TEST_REDIS_URL", "redis_tests"),
];

fn mark_service_tests() {
    for (variable, cfg) in SERVICE_TESTS {
        println!("cargo::rerun-if-env-changed={variable}");
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if std::env::var_os(variable).is_some_and(|v| !v.is_empty()) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}

/// Empty files where the bundles go, so that the gateway compiles without them.
fn write_placeholders(assets: &Path) {
    for (name, _, _, files) in PACKAGES {
        let folder = assets.join(slug(name));
        std::fs::create_dir_all(&folder).expect("create a package's assets folder");
        for file in *files {
            std::fs::write(folder.join(file_name(file)), b"").expect("write placeholder");
        }
    }
}

/// A package's name as npm spells it in a tarball's name: `@scope/name` becomes `scope-name`.
fn slug(name: &str) -> String {
    name.trim_start_matches('@').replace('/', "-")
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Where fetched tarballs are kept between builds: `$CARGO_HOME`, else `~/.cargo`.
fn cache_dir() -> Option<PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))?;
    Some(cargo_home.join("cockpit-gateway-assets"))
}

/// The file name a tarball is kept under: its sha512 in hex (SRI's base64 has `/` in it).
fn cached_name(integrity: &str) -> String {
    let digest = base64::engine::general_purpose::STANDARD
        .decode(integrity.trim_start_matches("sha512-"))
        .expect("a pinned integrity is base64");
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha512-{hex}.tgz")
}

/// Whether the file at `path` is the one `integrity` pins.
fn matches(path: &Path, integrity: &str) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let actual = format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha512::digest(&bytes))
    );
    if actual == integrity {
        Ok(())
    } else {
        Err(format!(
            "{} does not match its pinned integrity",
            path.display()
        ))
    }
}

/// A package's tarball, checked against its pinned integrity: from `COCKPIT_GRAPHIQL_TARBALLS`
/// when set, else the kept copy, else fetched with `npm pack` (and kept for the next build).
fn tarball(out: &Path, name: &str, version: &str, integrity: &str) -> Result<PathBuf, String> {
    let tarball_name = format!("{}-{version}.tgz", slug(name));
    if let Some(dir) = std::env::var_os("COCKPIT_GRAPHIQL_TARBALLS") {
        let given = PathBuf::from(dir).join(&tarball_name);
        matches(&given, integrity)
            .map_err(|e| format!("GraphiQL's bundles (COCKPIT_GRAPHIQL_TARBALLS): {e}"))?;
        return Ok(given);
    }
    let kept = cache_dir().map(|dir| dir.join(cached_name(integrity)));
    if let Some(kept) = &kept
        && matches(kept, integrity).is_ok()
    {
        return Ok(kept.clone());
    }
    let packed = Command::new("npm")
        .args([
            "pack",
            &format!("{name}@{version}"),
            "--loglevel=error",
            "--pack-destination",
        ])
        .arg(out)
        .output();
    let failed = match packed {
        Err(e) => Some(format!("npm: {e}")),
        Ok(packed) if !packed.status.success() => Some(npm_error(&packed.stderr)),
        Ok(_) => None,
    };
    if let Some(why) = failed {
        let kept = kept.map_or(
            "nowhere to keep it (neither CARGO_HOME nor HOME is set)".to_owned(),
            |k| format!("no good copy in {}", k.parent().unwrap_or(&k).display()),
        );
        return Err(format!(
            "GraphiQL's bundles are needed to build: {name}@{version} has {kept}, and `npm pack` \
             could not fetch it ({why}); build once with the npm registry reachable, set \
             COCKPIT_GRAPHIQL_TARBALLS to a folder of the `npm pack` tarballs, or set \
             COCKPIT_GRAPHIQL=off to build without GraphiQL"
        ));
    }
    let fetched = out.join(&tarball_name);
    matches(&fetched, integrity)?;
    if let Some(kept) = kept
        && let Err(e) = keep(&fetched, &kept)
    {
        println!("cargo::warning=GraphiQL's {tarball_name} not kept for later builds: {e}");
    }
    Ok(fetched)
}

/// Copies a fetched tarball to where later builds look, whole or not at all.
fn keep(fetched: &Path, kept: &Path) -> std::io::Result<()> {
    let dir = kept.parent().expect("a kept tarball is in a folder");
    std::fs::create_dir_all(dir)?;
    let partial = dir.join(format!(".{}.partial", std::process::id()));
    std::fs::copy(fetched, &partial)?;
    std::fs::rename(&partial, kept)
}

/// What npm said went wrong, in a few words: its error code, else its last line.
fn npm_error(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    text.lines()
        .find_map(|line| line.strip_prefix("npm error code "))
        .or_else(|| text.lines().rev().find(|line| !line.trim().is_empty()))
        .map_or("npm pack failed".to_owned(), |what| what.trim().to_owned())
}

fn fetch_all(out: &Path, assets: &Path) -> Result<(), String> {
    for (name, version, integrity, files) in PACKAGES {
        let tarball = tarball(out, name, version, integrity)?;
        let tarball_name = format!("{}-{version}.tgz", slug(name));
        let unpack = out.join(format!("unpacked-{}", slug(name)));
        std::fs::create_dir_all(&unpack).map_err(|e| e.to_string())?;
        let members: Vec<String> = files.iter().map(|f| format!("package/{f}")).collect();
        let extracted = Command::new("tar")
            .arg("xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(&unpack)
            .args(&members)
            .status()
            .map_err(|e| format!("tar: {e}"))?;
        if !extracted.success() {
            return Err(format!("could not unpack {tarball_name}"));
        }
        let folder = assets.join(slug(name));
        std::fs::create_dir_all(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
        for file in *files {
            std::fs::copy(
                unpack.join("package").join(file),
                folder.join(file_name(file)),
            )
            .map_err(|e| format!("{file}: {e}"))?;
        }
    }
    Ok(())
}
