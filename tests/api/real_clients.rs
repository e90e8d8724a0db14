//! Microsoft's own client libraries, and curl, against the simulator on Microsoft's host names,
//! changed in nothing but the environment a user sets: `HTTPS_PROXY` (the simulator's proxy) and
//! the CA bundle (`REQUESTS_CA_BUNDLE`, `SSL_CERT_FILE`, curl's `--cacert`).
//!
//! `tests/go/azidentity` runs azidentity (MSAL for Go), as the Terraform provider signs in, with
//! net/http. `tests/python/real_clients.py` runs Python MSAL (confidential client, username/password),
//! azure-identity (`ClientSecretCredential`, `UsernamePasswordCredential`), Microsoft's
//! `powerplatform-management` SDK on its default base URL through azure-identity, and
//! azure-storage-blob uploading a package to the asset library's https SAS URL. The packages are
//! pinned and installed into a virtual environment under `target/` on first run.

use super::d365fo::{ADMIN, PROJECT};
use super::helpers::{DEFAULT_TENANT, TestApp, builder, spawn_with};
use super::python_sdk::{python_with, run};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The client libraries the script was written against.
const CLIENTS: &str = "msal==1.39.0 azure-identity==1.27.0 azure-storage-blob==12.31.1 \
                       powerplatform-management==2.0.3578.333";

/// The CA of `app`, written to a file a client can be pointed at.
fn ca_file(app: &TestApp) -> PathBuf {
    let path = std::env::temp_dir().join(format!("lsim-ca-{}.pem", rand::random::<u64>()));
    std::fs::write(&path, app.sim.ca_pem()).unwrap();
    path
}

/// A process with the simulator's proxy and CA in its environment, and nothing else set.
fn with_proxy(command: &mut Command, proxy: &str, ca: &Path) {
    command
        .env("HTTPS_PROXY", proxy)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("REQUESTS_CA_BUNDLE", ca)
        .env("SSL_CERT_FILE", ca)
        .env_remove("HTTP_PROXY")
        .env_remove("ALL_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("all_proxy")
        .env_remove("no_proxy");
}

/// A simulator with its proxy, its CA in a file, and what a client signs in with: the default
/// tenant's id, its app registration's client id and secret, a user.
async fn signed_in() -> (TestApp, PathBuf, Vec<(&'static str, String)>) {
    let app = spawn_with(builder().proxy()).await;
    let (_, tenant) = app.get(&format!("/_sim/tenants/{DEFAULT_TENANT}")).await;
    let secret = |field: &str| {
        tenant["applications"][0][field]
            .as_str()
            .unwrap()
            .to_string()
    };
    let vars = vec![
        ("TENANT", DEFAULT_TENANT.to_string()),
        ("CLIENT_ID", secret("clientId")),
        ("CLIENT_SECRET", secret("clientSecret")),
        ("USER_UPN", ADMIN.to_string()),
    ];
    let ca = ca_file(&app);
    (app, ca, vars)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microsofts_python_clients_work_unchanged_through_the_proxy() {
    let (app, ca, mut vars) = signed_in().await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/real_clients.py");
    vars.push(("SIM_URL", app.sim.uri().to_string()));
    vars.push(("PROJECT", PROJECT.to_string()));
    let (proxy, ca_path) = (app.sim.proxy_uri().unwrap(), ca.clone());
    let result = tokio::task::spawn_blocking(move || {
        let mut command = Command::new(python_with("python-clients", CLIENTS)?);
        with_proxy(&mut command, &proxy, &ca_path);
        command.arg(&script).envs(vars);
        run(&mut command)
    })
    .await
    .unwrap();
    let _ = std::fs::remove_file(&ca);
    match result {
        Ok(out) => {
            println!("{out}");
            for line in [
                "ok - MSAL read the tenant's OpenID configuration on login.microsoftonline.com",
                "ok - MSAL asked the user realm first (Managed)",
                "ok - MSAL refreshed silently with the refresh token",
                "ok - azure-identity UsernamePasswordCredential got a token",
                "ok - the provisioning operation succeeded",
                "ok - azure-storage-blob downloads the same bytes",
                "ok - all real clients passed",
            ] {
                assert!(out.contains(line), "missing '{line}' in:\n{out}");
            }
        }
        Err(e) => panic!("{e}"),
    }
}

/// `curl` with the proxy and the CA: the status line, body and exit code.
fn curl(app: &TestApp, ca: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut command = Command::new("curl");
    with_proxy(&mut command, &app.sim.proxy_uri().unwrap(), ca);
    let output = command
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(ca)
        .args(["--proxy", &app.sim.proxy_uri().unwrap()])
        .args(args)
        .output()
        .expect("curl runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_reaches_bap_through_the_proxy_and_is_refused_elsewhere() {
    let app = spawn_with(builder().proxy()).await;
    let token = app.user_token(DEFAULT_TENANT, ADMIN).await;
    let ca = ca_file(&app);
    let auth = format!("Authorization: Bearer {token}");
    let (app_ref, ca_ref) = (&app, ca.clone());
    let (code, out, err) = tokio::task::block_in_place(|| {
        curl(
            app_ref,
            &ca_ref,
            &[
                "-H",
                &auth,
                "https://api.bap.microsoft.com/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments?api-version=2021-04-01",
            ],
        )
    });
    assert_eq!(code, Some(0), "{err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        list["value"].as_array().is_some_and(|v| !v.is_empty()),
        "{out}"
    );

    let (code, out, err) = tokio::task::block_in_place(|| {
        curl(
            app_ref,
            &ca_ref,
            &["-w", "%{http_connect}", "https://example.com/"],
        )
    });
    assert_eq!(code, Some(56), "curl reports a refused tunnel: {err}");
    assert!(out.ends_with("403"), "{out} {err}");
    let _ = std::fs::remove_file(&ca);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_clients_on_azidentity_work_unchanged_through_the_proxy() {
    // What the Terraform provider for Power Platform signs in and calls with: azidentity (MSAL
    // for Go) and net/http's default transport, which honours HTTPS_PROXY and SSL_CERT_FILE.
    let (app, ca, vars) = signed_in().await;
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/go/azidentity");
    let binary = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/go-azidentity");
    // Built with the machine's own environment: the go command would send its module
    // downloads to HTTPS_PROXY too (and the simulator's proxy refuses proxy.golang.org).
    let mut build = Command::new("go");
    build
        .args(["build", "-o"])
        .arg(&binary)
        .arg(".")
        .current_dir(&source);
    let mut command = Command::new(&binary);
    with_proxy(&mut command, &app.sim.proxy_uri().unwrap(), &ca);
    command.envs(vars);
    let result = tokio::task::spawn_blocking(move || {
        run(&mut build).map_err(|e| {
            format!("{e}\nThis test needs Go (1.26) and, on its first run, the Go module proxy")
        })?;
        run(&mut command)
    })
    .await
    .unwrap();
    let _ = std::fs::remove_file(&ca);
    match result {
        Ok(out) => {
            println!("{out}");
            assert!(out.contains("ok - all Go clients passed"), "{out}");
            let (_, journal) = app.get("/_sim/journal").await;
            let paths: Vec<&str> = journal["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["path"].as_str().unwrap())
                .collect();
            assert!(
                paths
                    .iter()
                    .any(|p| p.starts_with("/common/discovery/instance?")),
                "MSAL for Go asks instance discovery: {paths:?}"
            );
            assert!(
                paths.iter().any(|p| p.starts_with("/common/UserRealm/")),
                "{paths:?}"
            );
        }
        Err(e) => panic!("{e}"),
    }
}
