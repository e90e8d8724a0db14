//! A client that calls the LCS API exactly as the d365fo.tools cmdlets do: the same URL templates
//! (`$LcsApiUri/...`, trailing-slash quirks included), only an `Authorization` header, POSTs
//! without body or content type, status polling with a sleep before each call, and the 429 retry
//! loop of `Invoke-RequestHandler` (wait `Retry-After` seconds, 10 when absent). Sleeps advance
//! the virtual clock instead of waiting.

use super::helpers::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::cell::Cell;

/// The default tenant's project and environments.
pub const PROJECT: u64 = 1_234_567;
pub const PROD: &str = "c0de0001-0000-4000-8000-000000000001";
pub const UAT: &str = "c0de0001-0000-4000-8000-000000000002";
pub const DEV: &str = "c0de0001-0000-4000-8000-000000000003";
pub const ADMIN: &str = "admin@contoso.test";

pub struct D365<'a> {
    pub app: &'a TestApp,
    /// `LcsApiUri`, as stored from the token response's `resource`.
    pub api: String,
    pub token: String,
    pub project: u64,
    /// 429s seen (and waited out).
    pub throttled: Cell<u32>,
    /// Seconds waited because of 429s.
    pub waited: Cell<u64>,
}

impl<'a> D365<'a> {
    /// `Get-D365LcsApiToken -LcsApiUri $uri | Set-D365LcsApiConfig -ProjectId $project`.
    pub async fn connect(app: &'a TestApp, upn: &str, api_uri: &str, project: u64) -> D365<'a> {
        let form = [
            ("resource", api_uri),
            ("grant_type", "password"),
            ("client_id", "6f8a6e6e-1111-4222-8333-944444444444"),
            ("username", upn),
            ("password", "secret"),
            ("scope", "openid"),
        ];
        let (status, body) = app.token("common", "v1", &form).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        D365 {
            app,
            api: body["resource"].as_str().unwrap().to_string(),
            token: body["access_token"].as_str().unwrap().to_string(),
            project,
            throttled: Cell::new(0),
            waited: Cell::new(0),
        }
    }

    /// The simulator's own URI as the LCS API base (what a user configures).
    pub async fn default(app: &'a TestApp) -> D365<'a> {
        let uri = app.sim.uri().to_string();
        D365::connect(app, ADMIN, &uri, PROJECT).await
    }

    /// One request through `Invoke-RequestHandler`: 429 → wait `Retry-After` (or 10 s), retry.
    pub async fn invoke(
        &self,
        method: Method,
        url: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        loop {
            let mut request = self
                .app
                .client
                .request(method.clone(), url)
                .header("Authorization", format!("Bearer {}", self.token));
            if let Some(body) = &body {
                request = request
                    .header("Content-Type", "application/json")
                    .body(body.to_string());
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            if status == StatusCode::TOO_MANY_REQUESTS {
                let wait = response
                    .headers()
                    .get("Retry-After")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .filter(|v| *v > 0)
                    .unwrap_or(10);
                self.throttled.set(self.throttled.get() + 1);
                self.waited.set(self.waited.get() + wait);
                self.app.advance(&format!("{wait}s")).await;
                continue;
            }
            let text = response.text().await.unwrap();
            let value = if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
            };
            return (status, value);
        }
    }

    async fn ok(&self, method: Method, url: String) -> Value {
        let (status, body) = self.invoke(method, &url, None).await;
        assert_eq!(status, StatusCode::OK, "{url}: {body}");
        body
    }

    /// `Get-D365LcsDatabaseBackups`.
    pub async fn backups(&self) -> Value {
        self.ok(
            Method::GET,
            format!(
                "{}/databasemovement/v1/databases/project/{}",
                self.api, self.project
            ),
        )
        .await
    }

    /// `Invoke-D365LcsDatabaseRefresh` (start only).
    pub async fn refresh(&self, source: &str, target: &str) -> Value {
        let url = format!(
            "{}/databasemovement/v1/refresh/project/{}/source/{source}/target/{target}",
            self.api, self.project
        );
        self.ok(Method::POST, url).await
    }

    /// `Invoke-D365LcsDatabaseExport` (start only).
    pub async fn export(&self, env: &str, backup_name: &str) -> Value {
        let url = format!(
            "{}/databasemovement/v1/export/project/{}/environment/{env}/backupName/{backup_name}",
            self.api, self.project
        );
        self.ok(Method::POST, url).await
    }

    /// `Get-D365LcsDatabaseOperationStatus` without waiting.
    pub async fn db_status(&self, env: &str, activity: &str) -> Value {
        let url = format!(
            "{}/databasemovement/v1/fetchstatus/project/{}/environment/{env}/operationactivity/{activity}",
            self.api, self.project
        );
        self.ok(Method::GET, url).await
    }

    /// `Get-D365LcsDatabaseOperationStatus -WaitForCompletion -SleepInSeconds $sleep`: sleep, poll,
    /// repeat while `InProgress|NotStarted|RollbackInProgress`. Returns every status seen.
    pub async fn wait_db(&self, env: &str, activity: &str, sleep: &str) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            self.app.advance(sleep).await;
            let status = self.db_status(env, activity).await;
            let s = status["OperationStatus"].as_str().unwrap().to_string();
            seen.push(status);
            if !["InProgress", "NotStarted", "RollbackInProgress"].contains(&s.as_str()) {
                return seen;
            }
            assert!(seen.len() < 500, "never finished");
        }
    }

    /// `Get-D365LcsEnvironmentMetadata` with one of its suffixes (`""`, `/?page=2`,
    /// `/?environmentId=…`, `/?environmentName=…`).
    pub async fn metadata(&self, suffix: &str) -> Value {
        self.ok(
            Method::GET,
            format!(
                "{}/environmentinfo/v1/detail/project/{}{suffix}",
                self.api, self.project
            ),
        )
        .await
    }

    /// `Get-D365LcsEnvironmentMetadata -TraverseAllPages`: first call without a page, then
    /// `/?page=2,3…` while `ResultHasMorePages`.
    pub async fn metadata_all(&self) -> (Vec<Value>, u32) {
        let mut answer = self.metadata("").await;
        let mut data: Vec<Value> = answer["Data"].as_array().unwrap().clone();
        let mut calls = 1;
        let mut page = 2;
        while answer["ResultHasMorePages"] == json!(true) {
            answer = self.metadata(&format!("/?page={page}")).await;
            data.extend(answer["Data"].as_array().unwrap().iter().cloned());
            page += 1;
            calls += 1;
        }
        (data, calls)
    }

    /// `Get-D365LcsEnvironmentHistory` (one page; the first has no query).
    pub async fn history(&self, env: &str, page: u32) -> Value {
        let suffix = if page <= 1 {
            String::new()
        } else {
            format!("/?page={page}")
        };
        self.ok(
            Method::GET,
            format!(
                "{}/environmentinfo/v1/history/project/{}/environment/{env}{suffix}",
                self.api, self.project
            ),
        )
        .await
    }

    /// `Get-D365LcsEnvironmentRsatCertificate`.
    pub async fn rsat(&self, env: &str) -> Value {
        self.ok(
            Method::GET,
            format!(
                "{}/environmentinfo/v1/rsatdownload/project/{}/environment/{env}",
                self.api, self.project
            ),
        )
        .await
    }

    /// `Invoke-D365LcsEnvironmentStart` / `…Stop`.
    pub async fn start_stop(&self, action: &str, env: &str) -> Value {
        self.ok(
            Method::POST,
            format!(
                "{}/environment/v1/{action}/project/{}/environment/{env}",
                self.api, self.project
            ),
        )
        .await
    }

    /// `Invoke-D365LcsDeployment` (`updateName` always appended, empty when not given).
    pub async fn deploy(&self, env: &str, asset: &str, update_name: &str) -> Value {
        self.ok(
            Method::POST,
            format!(
                "{}/environment/v2/applyupdate/project/{}/environment/{env}/asset/{asset}?updateName={update_name}",
                self.api, self.project
            ),
        )
        .await
    }

    /// `Get-D365LcsDeploymentStatus` without waiting.
    pub async fn deploy_status(&self, env: &str, activity: &str) -> Value {
        self.ok(
            Method::GET,
            format!(
                "{}/environment/v2/fetchstatus/project/{}/environment/{env}/operationactivity/{activity}",
                self.api, self.project
            ),
        )
        .await
    }

    /// `Start-LcsUploadV2`: CreateFileAsset.
    pub async fn create_asset(&self, file_type: u32, name: &str, file_name: &str) -> Value {
        let body = json!({"Name": name, "FileName": file_name, "FileDescription": null, "SizeByte": 0, "FileType": file_type});
        let url = format!(
            "{}/box/fileasset/CreateFileAsset/{}",
            self.api, self.project
        );
        let (status, answer) = self.invoke(Method::POST, &url, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer
    }

    /// `Complete-LcsUploadV2`: CommitFileAsset.
    pub async fn commit(&self, asset: &str) -> Value {
        self.ok(
            Method::POST,
            format!(
                "{}/box/fileasset/CommitFileAsset/{}?assetId={asset}",
                self.api, self.project
            ),
        )
        .await
    }

    /// `Invoke-D365LcsUpload`: create, upload to the SAS (whole, or in blocks like the storage
    /// SDK does for large files), commit. Returns the asset id.
    pub async fn upload(
        &self,
        file_type: u32,
        name: &str,
        file_name: &str,
        bytes: &[u8],
        block: Option<usize>,
    ) -> String {
        let created = self.create_asset(file_type, name, file_name).await;
        assert_eq!(created["IsSuccess"], json!(true), "{created}");
        let sas = created["FileLocation"].as_str().unwrap();
        match block {
            None => {
                let r = self
                    .app
                    .client
                    .put(sas)
                    .header("x-ms-blob-type", "BlockBlob")
                    .body(bytes.to_vec())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
            }
            Some(size) => {
                let mut ids = Vec::new();
                for (i, chunk) in bytes.chunks(size).enumerate() {
                    let id = base64_id(i);
                    let r = self
                        .app
                        .client
                        .put(format!("{sas}&comp=block&blockid={}", urlencode(&id)))
                        .body(chunk.to_vec())
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), StatusCode::CREATED);
                    ids.push(id);
                }
                let list: String = ids
                    .iter()
                    .map(|id| format!("<Latest>{id}</Latest>"))
                    .collect();
                let xml = format!(
                    "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>{list}</BlockList>"
                );
                let r = self
                    .app
                    .client
                    .put(format!("{sas}&comp=blocklist"))
                    .body(xml)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
            }
        }
        let id = created["Id"].as_str().unwrap().to_string();
        let committed = self.commit(&id).await;
        assert_eq!(committed["IsSuccess"], json!(true), "{committed}");
        id
    }

    /// `Get-D365LcsAssetValidationStatus` (one call).
    pub async fn validation(&self, asset: &str) -> Value {
        self.ok(
            Method::GET,
            format!(
                "{}/box/fileasset/GetFileAssetValidationStatus/{}?assetId={asset}",
                self.api, self.project
            ),
        )
        .await
    }

    /// `Get-D365LcsAssetFile -FileType n`.
    pub async fn assets(&self, file_type: u32) -> Value {
        self.ok(
            Method::GET,
            format!(
                "{}/box/fileasset/GetAssets/{}?fileType={file_type}",
                self.api, self.project
            ),
        )
        .await
    }

    /// `Get-D365LcsSharedAssetFile -FileType n` (the list).
    pub async fn shared_assets(&self, file_type: u32) -> Value {
        self.ok(
            Method::GET,
            format!(
                "{}/box/fileasset/GetSharedAssets?fileType={file_type}",
                self.api
            ),
        )
        .await
    }

    /// `Get-LcsFileAsset`.
    pub async fn file_asset(&self, asset: &str) -> Value {
        self.ok(
            Method::GET,
            format!(
                "{}/box/fileasset/GetFileAsset/{}?assetId={asset}",
                self.api, self.project
            ),
        )
        .await
    }

    /// `Remove-D365LcsAssetFile`.
    pub async fn delete_asset(&self, asset: &str) -> Value {
        self.ok(
            Method::POST,
            format!(
                "{}/box/fileasset/DeleteFileAsset/{}?assetId={asset}",
                self.api, self.project
            ),
        )
        .await
    }

    /// Downloads a SAS URL (what AzCopy or `Invoke-WebRequest` does with `FileLocation`).
    pub async fn download(&self, url: &str) -> (StatusCode, Vec<u8>) {
        let r = self.app.client.get(url).send().await.unwrap();
        (r.status(), r.bytes().await.unwrap().to_vec())
    }
}

fn base64_id(i: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("block-{i:06}"))
}

pub fn urlencode(text: &str) -> String {
    text.replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}
