//! The asset library and package deployment: upload → commit → validate → deploy → status, with
//! real bytes through the blob endpoint, as `Invoke-D365LcsUpload`, `Get-D365LcsAssetValidationStatus`,
//! `Invoke-D365LcsDeployment` and `Get-D365LcsDeploymentStatus` do it.

use super::d365fo::{D365, DEV, PROD, UAT};
use super::lcs::lcs_app;
use lifecycle_sim::package_files::{deployable_package, zip};
use reqwest::StatusCode;
use serde_json::json;

const PACKAGE: u32 = 10;

/// A package big enough to span several blocks.
fn package() -> Vec<u8> {
    let padding = vec![b'x'; 300_000];
    zip(&[
        (
            "HotfixInstallationInfo.xml",
            b"<HotfixInstallationInfo><Name>Main_2026.1</Name></HotfixInstallationInfo>",
        ),
        ("AOSService/Packages/files/dynamicsax-contoso.zip", &padding),
    ])
}

/// `Get-D365LcsAssetValidationStatus -WaitForValidation -SleepInSeconds 60`.
async fn wait_valid(lcs: &D365<'_>, asset: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        lcs.app.advance("60s").await;
        let status = lcs.validation(asset).await;
        assert_eq!(status["Id"], json!(asset));
        let s = status["DisplayStatus"].as_str().unwrap().to_string();
        seen.push(s.clone());
        if s != "Process" {
            return seen;
        }
        assert!(seen.len() < 30);
    }
}

#[tokio::test]
async fn upload_commit_validate_deploy_and_follow_the_deployment() {
    let app = lcs_app().await;
    let lcs = D365::default(&app).await;
    let bytes = package();
    let asset = lcs
        .upload(
            PACKAGE,
            "Main_2026.1",
            "Main_2026.1.zip",
            &bytes,
            Some(128 * 1024),
        )
        .await;

    // Right after the commit: Process, then Valid within a few minutes.
    assert_eq!(
        lcs.validation(&asset).await["DisplayStatus"],
        json!("Process")
    );
    let seen = wait_valid(&lcs, &asset).await;
    assert_eq!(seen.last().map(String::as_str), Some("Valid"));

    // Listed (bare array), and GetFileAsset gives a SAS that downloads the same bytes.
    let list = lcs.assets(PACKAGE).await;
    let item = &list.as_array().unwrap()[0];
    assert_eq!(item["Id"], json!(asset));
    assert_eq!(item["FileName"], json!("Main_2026.1.zip"));
    assert!(item["ModifiedDate"].is_string());
    let file = lcs.file_asset(&asset).await;
    let (status, downloaded) = lcs.download(file["FileLocation"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(downloaded, bytes);

    // Deploy to the sandbox and follow Get-D365LcsDeploymentStatus's loop.
    let started = lcs.deploy(UAT, &asset, "Contoso release 2026.1").await;
    assert_eq!(started["IsSuccess"], json!(true), "{started}");
    let activity = started["OperationActivityId"].as_str().unwrap().to_string();
    let mut seen = Vec::new();
    loop {
        app.advance("5m").await;
        let status = lcs.deploy_status(UAT, &activity).await;
        let s = status["OperationStatus"].as_str().unwrap().to_string();
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        if !["InProgress", "NotStarted", "PreparingEnvironment"].contains(&s.as_str()) {
            break;
        }
    }
    assert_eq!(seen, ["PreparingEnvironment", "InProgress", "Completed"]);
    let history = lcs.history(UAT, 1).await;
    assert_eq!(history["Data"][0]["Name"], json!("Contoso release 2026.1"));
    assert_eq!(history["Data"][0]["Type"], json!("ApplicationHotfix"));
    assert_eq!(
        history["Data"][0]["TypeDisplay"],
        json!("Application deployable package")
    );
}

#[tokio::test]
async fn a_package_that_is_not_one_fails_validation_and_cannot_be_deployed() {
    let app = lcs_app().await;
    let lcs = D365::default(&app).await;
    let junk = zip(&[("readme.txt", b"not a package")]);
    let asset = lcs.upload(PACKAGE, "Junk", "Junk.zip", &junk, None).await;
    // Deploying while validation runs is refused.
    let early = lcs.deploy(UAT, &asset, "").await;
    assert!(
        early["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("still being validated")
    );
    assert_eq!(
        wait_valid(&lcs, &asset).await.last().map(String::as_str),
        Some("Invalid")
    );
    let status = lcs.validation(&asset).await;
    assert!(
        status["ValidationMessage"]
            .as_str()
            .unwrap()
            .contains("HotfixInstallationInfo.xml")
    );
    let refused = lcs.deploy(UAT, &asset, "").await;
    assert_eq!(refused["IsSuccess"], json!(false));
    assert!(
        refused["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("failed validation")
    );
}

#[tokio::test]
async fn package_deployment_rules() {
    let app = lcs_app().await;
    let lcs = D365::default(&app).await;
    let asset = lcs
        .upload(PACKAGE, "Main", "Main.zip", &package(), None)
        .await;
    app.advance("10m").await;
    let prod = lcs.deploy(PROD, &asset, "Go live").await;
    assert!(
        prod["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("cannot be automated"),
        "{prod}"
    );
    let unknown = lcs
        .deploy(UAT, "0b5e0000-0000-4000-8000-00000000dead", "")
        .await;
    assert!(
        unknown["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("was not found in the asset library")
    );
    // The dev box takes it without an update name (Invoke-D365LcsDeployment sends ?updateName=).
    let dev = lcs.deploy(DEV, &asset, "").await;
    assert_eq!(dev["IsSuccess"], json!(true), "{dev}");
    let busy = lcs.deploy(DEV, &asset, "").await;
    assert!(
        busy["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("undergoing another operation")
    );
}

#[tokio::test]
async fn commit_needs_an_upload_and_pending_assets_expire_after_a_day() {
    let app = lcs_app().await;
    let lcs = D365::default(&app).await;
    let created = lcs.create_asset(PACKAGE, "Never uploaded", "x.zip").await;
    let id = created["Id"].as_str().unwrap().to_string();
    let commit = lcs.commit(&id).await;
    assert!(
        commit["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("Nothing has been uploaded")
    );
    // Not listed until committed.
    assert_eq!(lcs.assets(PACKAGE).await, json!([]));
    app.advance("25h").await;
    let gone = lcs.validation(&id).await;
    assert!(
        gone["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("expire after 24 hours")
    );
}

#[tokio::test]
async fn create_file_asset_validates_its_body() {
    let app = lcs_app().await;
    let lcs = D365::default(&app).await;
    let url = format!("{}/box/fileasset/CreateFileAsset/{}", lcs.api, lcs.project);
    let (status, body) = lcs
        .invoke(
            reqwest::Method::POST,
            &url,
            Some(json!({"Name": "x", "FileName": "x.zip", "FileType": 3})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["IsSuccess"], json!(false));
    assert!(
        body["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("10 (SoftwareDeployablePackage)")
    );
    let (_, body) = lcs
        .invoke(
            reqwest::Method::POST,
            &url,
            Some(json!({"Name": "x", "FileType": 10})),
        )
        .await;
    assert!(
        body["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("FileName is required")
    );
}

#[tokio::test]
async fn assets_can_be_deleted() {
    let app = lcs_app().await;
    let lcs = D365::default(&app).await;
    let asset = lcs.upload(15, "Data", "Data.zip", &package(), None).await;
    let location = lcs.file_asset(&asset).await["FileLocation"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(lcs.delete_asset(&asset).await["IsSuccess"], json!(true));
    assert_eq!(lcs.assets(15).await, json!([]));
    let (status, _) = lcs.download(&location).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the file went with the asset"
    );
}

#[tokio::test]
async fn shared_assets_are_microsoft_versioned_packages_that_download() {
    let app = lcs_app().await;
    let lcs = D365::default(&app).await;
    let shared = lcs.shared_assets(PACKAGE).await;
    let items = shared.as_array().unwrap();
    assert!(items.len() >= 3);
    for item in items {
        // d365fo.tools parses the version at the end of Name and the build after the first '_'.
        let name = item["Name"].as_str().unwrap();
        let version = name.rsplit(' ').next().unwrap();
        assert!(
            version.split('.').all(|p| p.parse::<u32>().is_ok()),
            "{name}"
        );
        let file = item["FileName"].as_str().unwrap();
        let build = file.split_once('_').unwrap().1.trim_end_matches(".zip");
        assert_eq!(build.split('.').count(), 4, "{file}");
    }
    let id = items[0]["Id"].as_str().unwrap();
    let file = lcs.file_asset(id).await;
    let (status, bytes) = lcs.download(file["FileLocation"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(bytes.starts_with(b"PK"));
    assert_eq!(lcs.shared_assets(17).await, json!([]));
}

async fn sas_for_new_asset(lcs: &D365<'_>) -> String {
    lcs.create_asset(PACKAGE, "Blob", "blob.zip").await["FileLocation"]
        .as_str()
        .unwrap()
        .to_string()
}

fn xml_code(text: &str) -> &str {
    text.split("<Code>")
        .nth(1)
        .and_then(|t| t.split("</Code>").next())
        .unwrap_or("")
}

#[tokio::test]
async fn the_blob_endpoint_checks_the_sas_and_speaks_azure_errors() {
    let app = lcs_app().await;
    let lcs = D365::default(&app).await;
    let sas = sas_for_new_asset(&lcs).await;
    let c = &app.client;

    // Put Blob needs x-ms-blob-type.
    let r = c.put(&sas).body("data").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.headers()["x-ms-error-code"], "MissingRequiredHeader");
    // A tampered signature.
    let forged = sas.replace("sig=", "sig=AAAA");
    let r = c
        .put(&forged)
        .header("x-ms-blob-type", "BlockBlob")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let text = r.text().await.unwrap();
    assert_eq!(xml_code(&text), "AuthenticationFailed");
    // No SAS at all.
    let bare = sas.split('?').next().unwrap();
    let r = c.get(bare).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let r = c
        .put(&sas)
        .header("x-ms-blob-type", "BlockBlob")
        .body("0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(r.headers().contains_key("etag"));
    // Ranged reads as AzCopy does them, and HEAD for the properties.
    let r = c
        .get(&sas)
        .header("x-ms-range", "bytes=2-5")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers()["content-range"], "bytes 2-5/10");
    assert_eq!(r.text().await.unwrap(), "2345");
    let r = c.head(&sas).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-length"], "10");
    assert_eq!(r.headers()["x-ms-blob-type"], "BlockBlob");
    let r = c
        .get(&sas)
        .header("Range", "bytes=50-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    // A read-only SAS cannot write.
    let read_only = {
        let asset = lcs.create_asset(PACKAGE, "R", "r.zip").await;
        let sas = asset["FileLocation"].as_str().unwrap().to_string();
        c.put(&sas)
            .header("x-ms-blob-type", "BlockBlob")
            .body(package())
            .send()
            .await
            .unwrap();
        let id = asset["Id"].as_str().unwrap();
        lcs.commit(id).await;
        lcs.file_asset(id).await["FileLocation"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(read_only.ends_with("sp=r"), "{read_only}");
    let r = c
        .put(&read_only)
        .header("x-ms-blob-type", "BlockBlob")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.headers()["x-ms-error-code"],
        "AuthorizationPermissionMismatch"
    );

    // A bad block list.
    let r = c
        .put(format!("{sas}&comp=blocklist"))
        .body("<BlockList><Latest>bm9wZQ==</Latest></BlockList>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.headers()["x-ms-error-code"], "InvalidBlockList");

    // SAS URLs expire (virtual time): 24 hours.
    app.advance("25h").await;
    let r = c.get(&sas).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("Signed expiry time"));
}

#[tokio::test]
async fn uploads_above_the_cap_are_refused() {
    let app = super::helpers::spawn_with(super::helpers::builder().configure(|c| {
        c.lcs_throttling = false;
        c.max_upload_bytes = 1024;
    }))
    .await;
    let lcs = D365::default(&app).await;
    let sas = sas_for_new_asset(&lcs).await;
    let r = app
        .client
        .put(&sas)
        .header("x-ms-blob-type", "BlockBlob")
        .body(vec![0u8; 2048])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.headers()["x-ms-error-code"], "RequestBodyTooLarge");
    let text: String = r.text().await.unwrap();
    assert!(text.contains("--max-upload-bytes"));
}

#[tokio::test]
async fn a_minimal_package_from_the_library_validates() {
    let app = lcs_app().await;
    let lcs = D365::default(&app).await;
    let bytes = deployable_package("Minimal", "10.0.2195.29");
    let asset = lcs
        .upload(PACKAGE, "Minimal", "Minimal.zip", &bytes, None)
        .await;
    assert_eq!(
        wait_valid(&lcs, &asset).await.last().map(String::as_str),
        Some("Valid")
    );
}
