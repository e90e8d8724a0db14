//! Starts a simulator in-process on a random port and speaks HTTP to it like a real client.

use lifecycle_sim::{Simulator, SimulatorBuilder};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Virtual start time of every test simulator.
pub const START: &str = "2026-01-01T09:00:00Z";
/// Seed of every test simulator unless a test picks another.
pub const SEED: u64 = 42;
/// The built-in default tenant.
pub const DEFAULT_TENANT: &str = "c0de0000-0000-4000-8000-000000000001";

pub struct TestApp {
    pub sim: Simulator,
    pub client: reqwest::Client,
}

/// The usual builder: fixed seed and start time, clock paused (explicit time).
pub fn builder() -> SimulatorBuilder {
    lifecycle_sim::telemetry::init_for_tests();
    tls_provider();
    Simulator::builder()
        .seed(SEED)
        .paused()
        .start_time(START.parse().unwrap())
}

/// The tests' HTTPS clients (reqwest without a provider of its own) use ring, as the simulator
/// does. Called by [`builder`]; a test that builds a client without one calls it itself.
pub fn tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A plain HTTP client, for tests that talk to a served binary.
pub fn http() -> reqwest::Client {
    tls_provider();
    reqwest::Client::new()
}

pub async fn spawn_app() -> TestApp {
    spawn_with(builder()).await
}

pub async fn spawn_with(builder: SimulatorBuilder) -> TestApp {
    let sim = builder.start().await.expect("simulator starts");
    TestApp {
        sim,
        client: reqwest::Client::new(),
    }
}

/// Status and JSON body (`Null` when the body is empty).
pub type Reply = (StatusCode, Value);

/// Status, headers and body of one answer: the parsed JSON when the answer says it is JSON (a
/// body that says so and is not fails the test), `Null` when it is empty, else the text.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// The `Location` header; fails the test with the answer when there is none.
    pub fn location(&self) -> String {
        self.header("location")
            .unwrap_or_else(|| panic!("no Location: {} {}", self.status, self.body))
    }

    /// A header as text, if present.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }
}

/// Sends a request as built and reads its answer.
pub async fn ask(request: reqwest::RequestBuilder) -> Answer {
    answer(request.send().await.unwrap()).await
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else if json {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Answer {
        status,
        headers,
        body,
    }
}

async fn reply(response: reqwest::Response) -> Reply {
    let a = answer(response).await;
    (a.status, a.body)
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.uri())
    }

    pub async fn get(&self, path: &str) -> Reply {
        reply(self.client.get(self.url(path)).send().await.unwrap()).await
    }

    pub async fn get_with_token(&self, path: &str, token: &str) -> Reply {
        let request = self.client.get(self.url(path)).bearer_auth(token);
        reply(request.send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        reply(
            self.client
                .post(self.url(path))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Posts a body exactly as given (for malformed input).
    pub async fn post_raw(&self, path: &str, body: &str) -> Reply {
        let request = self.client.post(self.url(path)).body(body.to_string());
        reply(request.send().await.unwrap()).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        reply(
            self.client
                .patch(self.url(path))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        reply(self.client.delete(self.url(path)).send().await.unwrap()).await
    }

    /// Creates a tenant and returns it (asserting 201).
    pub async fn create_tenant(&self, body: Value) -> Value {
        let (status, tenant) = self.post("/_sim/tenants", body).await;
        assert_eq!(status, StatusCode::CREATED, "{tenant}");
        tenant
    }

    /// Posts a form to a token endpoint (`v1` or `v2`).
    pub async fn token(&self, tenant: &str, version: &str, form: &[(&str, &str)]) -> Reply {
        let path = match version {
            "v1" => format!("/{tenant}/oauth2/token"),
            _ => format!("/{tenant}/oauth2/v2.0/token"),
        };
        reply(
            self.client
                .post(self.url(&path))
                .form(form)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// An access token for `upn` (any password works for users created without one).
    pub async fn user_token(&self, tenant: &str, upn: &str) -> String {
        let resource = "https://lcsapi.lcs.dynamics.com";
        match self.sim.control().token(tenant, upn, resource).await {
            Ok(token) => token,
            Err(e) => panic!("no token for {upn}: {e}"),
        }
    }

    /// Any request with a bearer token and an optional JSON body; status and body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Reply {
        let a = self.call(token, method, path, body).await;
        (a.status, a.body)
    }

    /// Any request with a bearer token and an optional JSON body, to a path of the simulator or
    /// an absolute URL (a `Location` it answered); status, headers and body.
    pub async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            self.url(path)
        };
        let mut request = self.client.request(method, url).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        ask(request).await
    }

    /// Advances the shared clock through the typed control handle; the answer as JSON.
    pub async fn advance(&self, by: &str) -> Value {
        match self.sim.control().advance(by).await {
            Ok(advanced) => serde_json::to_value(advanced).unwrap(),
            Err(e) => panic!("cannot advance {by}: {e}"),
        }
    }
}

/// Asserts an error reply in the control envelope and returns its message.
pub fn assert_error(reply: &Reply, status: StatusCode, code: &str) -> String {
    assert_eq!(reply.0, status, "{}", reply.1);
    assert_eq!(reply.1["error"]["code"], code, "{}", reply.1);
    let message = reply.1["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "errors say what to do: {}", reply.1);
    message.to_string()
}
