//! Traces over OTLP/HTTP: the binary sends its request spans to a collector, joins the trace a
//! caller started, and names the trace in its log lines and problem+json answers.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;
use serde_json::Value;

use crate::cli::{agora, serve};
use crate::helpers::{client, eventually, TestDb};
use crate::mail::{free_port, start_smtp};

/// A span as the receiver got it.
#[derive(Clone, Debug)]
struct ReceivedSpan {
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    name: String,
    attributes: Vec<(String, String)>,
}

/// An OTLP/HTTP receiver: `POST /v1/traces` with protobuf bodies, as a collector takes them.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<ReceivedSpan>>>);

impl Receiver {
    async fn start(&self) -> String {
        async fn traces(State(receiver): State<Receiver>, body: Bytes) -> &'static str {
            let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
            let spans = request
                .resource_spans
                .into_iter()
                .flat_map(|r| r.scope_spans)
                .flat_map(|s| s.spans)
                .map(|span| ReceivedSpan {
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    name: span.name,
                    attributes: span
                        .attributes
                        .into_iter()
                        .map(|kv| {
                            let value = match kv.value.and_then(|v| v.value) {
                                Some(AnyValue::StringValue(s)) => s,
                                Some(AnyValue::IntValue(i)) => i.to_string(),
                                other => format!("{other:?}"),
                            };
                            (kv.key, value)
                        })
                        .collect(),
                });
            receiver.0.lock().unwrap().extend(spans);
            ""
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/v1/traces", post(traces))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    fn spans_of(&self, trace_id: &str) -> Vec<ReceivedSpan> {
        let spans = self.0.lock().unwrap();
        spans
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn a_request_joins_its_callers_trace_and_is_exported_over_otlp() {
    let receiver = Receiver::default();
    let collector = receiver.start().await;
    let db = TestDb::new().await;
    let cwd = tempfile::tempdir().unwrap();
    let mut cmd = agora(cwd.path());
    cmd.env("AGORA__DATABASE__URL", &db.url)
        .env("AGORA__DATA_DIR", cwd.path().join("data"))
        .env("AGORA__TELEMETRY__OTLP__ENDPOINT", &collector)
        .env("AGORA__TELEMETRY__OTLP__SERVICE_NAME", "agora-under-test")
        // The batch exporter sends every 100 ms instead of every 5 s.
        .env("OTEL_BSP_SCHEDULE_DELAY", "100");
    let running = serve(cmd);

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let response = client()
        .get(format!("{}/api/v1/auth/me", running.address))
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["trace_id"], trace_id, "{problem}");
    assert!(problem["request_id"].is_string());

    let spans = eventually("the request's span at the collector", || async {
        let spans = receiver.spans_of(trace_id);
        (!spans.is_empty()).then_some(spans)
    })
    .await;
    let request = spans
        .iter()
        .find(|s| s.name == "GET /api/v1/auth/me")
        .unwrap_or_else(|| panic!("{spans:?}"));
    assert_eq!(
        request.parent_span_id, caller_span,
        "a child of the caller's span"
    );
    let attribute = |key: &str| {
        request
            .attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(attribute("http.route").as_deref(), Some("/api/v1/auth/me"));
    assert_eq!(
        attribute("http.response.status_code").as_deref(),
        Some("401")
    );

    // The access log line of the request names the trace.
    let logged = running
        .logs
        .lock()
        .unwrap()
        .iter()
        .any(|line| line["message"] == "request" && line["span"]["trace_id"] == trace_id);
    assert!(logged, "a log line with the trace id");

    // A request with no caller's trace starts one of its own.
    let own: Value = client()
        .get(format!("{}/api/v1/auth/me", running.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let own_trace = own["trace_id"].as_str().expect("a trace id of its own");
    assert_eq!(own_trace.len(), 32);
    assert_ne!(own_trace, trace_id);
}

/// The spans of one trace from the request to the SMTP conversation, with the queue between.
async fn an_email_is_one_trace_from_the_request_to_the_smtp_server(queue: &[(&str, String)]) {
    let receiver = Receiver::default();
    let collector = receiver.start().await;
    let db = TestDb::new().await;
    let cwd = tempfile::tempdir().unwrap();
    let smtp_port = free_port();
    let smtp = start_smtp(cwd.path(), smtp_port);
    let mut cmd = agora(cwd.path());
    cmd.env("AGORA__DATABASE__URL", &db.url)
        .env("AGORA__DATA_DIR", cwd.path().join("data"))
        .env("AGORA__TELEMETRY__OTLP__ENDPOINT", &collector)
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("AGORA__MAILER__TRANSPORT", "smtp")
        .env("AGORA__MAILER__SMTP__HOST", "127.0.0.1")
        .env("AGORA__MAILER__SMTP__PORT", smtp_port.to_string())
        .env("AGORA__MAILER__SMTP__TLS", "none")
        .env("AGORA__AUTH__PASSWORD__MEMORY_KIB", "1024")
        .env("AGORA__AUTH__PASSWORD__ITERATIONS", "1");
    for (key, value) in queue {
        cmd.env(key, value);
    }
    let running = serve(cmd);
    let http = client();
    let registered: Value = http
        .post(format!("{}/api/v1/auth/register", running.address))
        .json(&serde_json::json!({"email": "tracer@example.com", "password": "correct horse battery staple", "name": "Tracer"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = registered["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let sent = http
        .post(format!("{}/api/v1/emails/send", running.address))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{trace_id}-b7ad6b7169203331-01"))
        .json(&serde_json::json!({"to": ["friend@example.com"], "subject": "Traced", "text": "Follow me."}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);
    eventually("the email at the SMTP server", || async {
        (smtp
            .received()
            .iter()
            .any(|m| m.contains("Subject: Traced")))
        .then_some(())
    })
    .await;

    let spans = eventually(
        "the request, the worker and the SMTP spans in one trace",
        || async {
            let spans = receiver.spans_of(trace_id);
            let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
            let complete = names.contains(&"POST /api/v1/emails/send")
                && names.iter().any(|n| n.ends_with(" process"))
                && names.contains(&"smtp send");
            complete.then_some(spans)
        },
    )
    .await;
    let by_name = |name: &str| spans.iter().find(|s| s.name == name).unwrap().clone();
    let request = by_name("POST /api/v1/emails/send");
    let smtp_span = by_name("smtp send");
    let worker = spans.iter().find(|s| s.name.ends_with(" process")).unwrap();
    // Each span hangs from one of the same trace: smtp under the worker, the worker under the
    // request (through the spans between them).
    let parent_of = |span: &ReceivedSpan| {
        spans
            .iter()
            .find(|s| s.span_id == span.parent_span_id)
            .cloned()
    };
    let ancestors = |span: &ReceivedSpan| {
        let mut chain = Vec::new();
        let mut current = parent_of(span);
        while let Some(parent) = current {
            chain.push(parent.span_id.clone());
            current = parent_of(&parent);
        }
        chain
    };
    assert!(
        ancestors(&smtp_span).contains(&worker.span_id),
        "{spans:#?}"
    );
    assert!(ancestors(worker).contains(&request.span_id), "{spans:#?}");
    assert!(
        spans.iter().any(|s| s.name == "db transaction"),
        "{spans:#?}"
    );
}

#[tokio::test]
async fn an_email_is_one_trace_on_the_database_queue() {
    an_email_is_one_trace_from_the_request_to_the_smtp_server(&[]).await;
}

#[cfg(feature = "kafka")]
#[tokio::test]
async fn an_email_is_one_trace_on_kafka() {
    let brokers = std::env::var("TEST_KAFKA_BROKERS")
        .expect("TEST_KAFKA_BROKERS: a Kafka-protocol broker (scripts/test.sh starts tansu)");
    an_email_is_one_trace_from_the_request_to_the_smtp_server(&[
        ("AGORA__QUEUE__BACKEND", "kafka".to_string()),
        ("AGORA__QUEUE__KAFKA__BROKERS", brokers),
        (
            "AGORA__QUEUE__KAFKA__NAMESPACE",
            format!("test-{}", uuid::Uuid::new_v4().simple()),
        ),
        (
            "AGORA__QUEUE__KAFKA__SESSION_TIMEOUT_MS",
            "6000".to_string(),
        ),
        ("AGORA__QUEUE__KAFKA__RELAY_INTERVAL_MS", "20".to_string()),
    ])
    .await;
}
