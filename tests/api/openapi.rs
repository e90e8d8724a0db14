//! `GET /_sim/openapi.json`: an OpenAPI 3.1 document of every route, generated from the router.

use crate::helpers::spawn_app;
use lifecycle_sim::api::route_table;
use lifecycle_sim::journal::Filter;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::BTreeSet;

const METHODS: [&str; 5] = ["get", "put", "post", "patch", "delete"];

/// (method, OpenAPI path) of every operation in the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(method).is_some() {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

/// A routed template in OpenAPI's syntax (`{*blob}` becomes `{blob}`).
fn openapi_path(template: &str) -> String {
    template.replace("{*", "{")
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_lists_every_routed_path_and_method() {
    // Arrange
    let app = spawn_app().await;
    let (_, table) = route_table(app.sim.state().clone());

    // Act
    let (status, doc) = app.get("/_sim/openapi.json").await;

    // Assert
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "lifecycle-sim");
    let routed: BTreeSet<(String, String)> = table
        .iter()
        .map(|op| (op.method.to_string(), openapi_path(&op.path)))
        .collect();
    assert_eq!(routed.len(), table.len(), "no route is registered twice");
    let documented = documented(&doc);
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(missing.is_empty(), "routed but not documented: {missing:?}");
    assert!(extra.is_empty(), "documented but not routed: {extra:?}");
    for path in [
        "/_sim/health",
        "/_sim/openapi.json",
        "/_sim/clock/advance",
        "/_portal/lcs/projects/{project}/environments/{env}/power-platform-integration/resume",
        "/databasemovement/v1/refresh/project/{project}/source/{source}/target/{target}",
        "/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/{env}",
        "/environmentmanagement/environments/{env}/copy",
        "/{tenant}/oauth2/v2.0/token",
        "/_blob/{account}/{container}/{blob}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
}

#[tokio::test]
async fn every_documented_operation_is_served_by_its_own_route() {
    // Arrange: the document, and a way to tell which route answered (the journal's `route`).
    let app = spawn_app().await;
    let (_, doc) = app.get("/_sim/openapi.json").await;
    let ops = documented(&doc);
    assert!(ops.len() > 100, "{}", ops.len());
    // A redirect's answer is the route asked, not where it leads.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    for (method, path) in ops {
        // Act: the path with every parameter filled in.
        let concrete: String = path
            .split('/')
            .map(|s| if s.starts_with('{') { "p1" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let response = client
            .request(method.clone(), app.url(&concrete))
            .send()
            .await
            .unwrap();
        let status = response.status();

        // Assert
        let last = app.sim.state().journal.entries(Filter {
            limit: Some(1),
            ..Filter::default()
        });
        let route = last[0].route.as_deref().map(openapi_path);
        assert_eq!(
            route.as_deref(),
            Some(path.as_str()),
            "{method} {concrete} answered {status} from another route"
        );
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        // A redirect is documented as one, with its Location; nothing else answers 3xx.
        let responses = &doc["paths"][&path][method.as_str().to_lowercase()]["responses"];
        let documented_redirect = responses.get("303").is_some();
        assert_eq!(
            status.is_redirection(),
            documented_redirect,
            "{method} {path} answered {status}, documented {responses}"
        );
        if documented_redirect {
            assert_eq!(status, StatusCode::SEE_OTHER, "{method} {path}");
            assert!(
                response.headers().contains_key("location"),
                "{method} {path}"
            );
            assert!(responses["303"]["headers"].get("Location").is_some());
            assert!(responses.get("2XX").is_none(), "{method} {path}");
        }
    }
}

#[tokio::test]
async fn each_operation_has_a_summary_a_tag_path_parameters_and_the_surfaces_error_envelope() {
    let app = spawn_app().await;
    let (_, doc) = app.get("/_sim/openapi.json").await;
    let mut ids = BTreeSet::new();

    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {path}"
            );
            assert!(
                ids.insert(op["operationId"].as_str().unwrap().to_string()),
                "unique ids"
            );
            let tag = op["tags"][0].as_str().unwrap();
            let params: Vec<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .map(|p| p["name"].as_str().unwrap())
                        .collect()
                })
                .unwrap_or_default();
            let in_path: Vec<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .collect();
            assert_eq!(params, in_path, "{method} {path}");
            let error = op["responses"]["4XX"]["content"]
                .as_object()
                .unwrap()
                .values()
                .next()
                .unwrap()["schema"]["$ref"]
                .as_str()
                .unwrap();
            let schema = error.trim_start_matches("#/components/schemas/");
            assert!(
                doc["components"]["schemas"].get(schema).is_some(),
                "{error}"
            );
            let expected = match tag {
                "Control plane" | "LCS portal" | "Training UI" => "ControlError",
                "LCS API" => "LcsError",
                "BAP admin API" | "Microsoft Graph" => "BapError",
                "Power Platform API" => "PowerPlatformError",
                "Entra ID" => "OAuthError",
                "Azure Blob" => "BlobError",
                other => panic!("unknown tag {other}"),
            };
            assert_eq!(schema, expected, "{method} {path}");
            // A portal's bearer token where the real service wants one; the control plane has
            // its own (optional) control token instead.
            let bearer = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
            assert_eq!(
                bearer,
                !matches!(
                    tag,
                    "Control plane" | "Entra ID" | "Azure Blob" | "Training UI"
                ),
                "{method} {path}"
            );
            if path.starts_with("/providers/") || path.starts_with("/environmentmanagement") {
                let api_version = op["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == "api-version" && p["in"] == "query");
                assert!(api_version, "{method} {path}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_is_valid_against_the_openapi_3_1_schema() {
    // Arrange: an independent validator, pinned.
    let python = tokio::task::spawn_blocking(|| {
        crate::python_sdk::python_with("openapi-validator", "openapi-spec-validator==0.9.0")
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("{e}"));
    let app = spawn_app().await;
    let text = app
        .client
        .get(app.url("/_sim/openapi.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("openapi.json");
    std::fs::write(&file, text).unwrap();

    // Act
    let output = std::process::Command::new(python)
        .args([
            "-c",
            "import json, sys\n\
             from openapi_spec_validator import validate, OpenAPIV31SpecValidator\n\
             validate(json.load(open(sys.argv[1])), cls=OpenAPIV31SpecValidator)\n\
             print('valid')",
        ])
        .arg(&file)
        .output()
        .unwrap();

    // Assert
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
