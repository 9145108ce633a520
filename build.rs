//! Fetches GraphiQL's browser bundles from the npm registry at build time — pinned versions,
//! checked against their published sha512 integrity — so the gateway serves GraphiQL itself:
//! offline, behind a firewall, under a strict Content-Security-Policy.
//!
//! Set `COCKPIT_GRAPHIQL_TARBALLS` to a folder holding the `.tgz` files `npm pack` makes
//! (one per package below) to build without the registry. Without npm or the tarballs the gateway still builds, and its
//! GraphiQL page says why it is missing.

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
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let assets = out.join("graphiql");
    std::fs::create_dir_all(&assets).expect("create the assets folder");
    let status = match fetch_all(&out, &assets) {
        Ok(()) => "available".to_owned(),
        Err(reason) => {
            println!(
                "cargo::warning=GraphiQL assets unavailable ({reason}); /graphql will serve a notice instead"
            );
            for (name, _, _, files) in PACKAGES {
                let folder = assets.join(slug(name));
                std::fs::create_dir_all(&folder).expect("create a package's assets folder");
                for file in *files {
                    std::fs::write(folder.join(file_name(file)), b"").expect("write placeholder");
                }
            }
            reason
        }
    };
    std::fs::write(assets.join("status.txt"), status).expect("write status");
}

/// A package's name as npm spells it in a tarball's name: `@scope/name` becomes `scope-name`.
fn slug(name: &str) -> String {
    name.trim_start_matches('@').replace('/', "-")
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn fetch_all(out: &Path, assets: &Path) -> Result<(), String> {
    for (name, version, integrity, files) in PACKAGES {
        let tarball_name = format!("{}-{version}.tgz", slug(name));
        let tarball = match std::env::var_os("COCKPIT_GRAPHIQL_TARBALLS") {
            Some(dir) => PathBuf::from(dir).join(&tarball_name),
            None => out.join(&tarball_name),
        };
        if !tarball.exists() {
            let packed = Command::new("npm")
                .args([
                    "pack",
                    &format!("{name}@{version}"),
                    "--silent",
                    "--pack-destination",
                ])
                .arg(out)
                .output()
                .map_err(|e| format!("npm: {e}"))?;
            if !packed.status.success() {
                return Err(format!("npm pack {name}@{version} failed"));
            }
        }
        let bytes = std::fs::read(&tarball).map_err(|e| format!("{}: {e}", tarball.display()))?;
        let actual = format!(
            "sha512-{}",
            base64::engine::general_purpose::STANDARD.encode(Sha512::digest(&bytes))
        );
        if actual != *integrity {
            return Err(format!(
                "{tarball_name} does not match its pinned integrity"
            ));
        }
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
