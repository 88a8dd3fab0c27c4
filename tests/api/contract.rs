//! The OpenAPI document states the server's rules exactly (what scripts/schemathesis relies
//! on), and the rules the spec states are the ones the server applies.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            all.push((method.clone(), path.clone(), operation.clone()));
        }
    }
    all
}

fn has_query(operation: &Value) -> bool {
    operation["parameters"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"))
}

#[tokio::test]
async fn every_operation_documents_the_errors_it_can_give() {
    let app = TestApp::spawn().await;
    let doc = openapi(&app).await;
    for (method, path, operation) in operations(&doc) {
        let responses = &operation["responses"];
        let mut expected: Vec<&str> = Vec::new();
        let has_body = operation["requestBody"].is_object();
        if has_body || has_query(&operation) {
            expected.extend(["400", "422"]);
        }
        if has_body {
            expected.extend(["413", "415"]);
        }
        if operation["security"].is_array() {
            expected.push("401");
        }
        if path.contains('{') {
            expected.push("404");
        }
        expected.push("408");
        if path != "/health" && path != "/metrics" {
            expected.push("503");
        }
        for status in expected {
            let content = &responses[status]["content"]["application/problem+json"];
            assert!(
                content.is_object(),
                "{method} {path}: {status} is not documented as a problem"
            );
        }
        // Oversized request heads: hyper's answer, documented without a body.
        assert!(
            responses["431"]["description"].is_string() && responses["431"]["content"].is_null(),
            "{method} {path}: 431 {}",
            responses["431"]
        );
    }
}

#[tokio::test]
async fn request_bodies_refuse_unknown_fields_and_are_never_null() {
    let app = TestApp::spawn().await;
    let doc = openapi(&app).await;
    let schemas = &doc["components"]["schemas"];
    for (method, path, operation) in operations(&doc) {
        let Some(content) = operation["requestBody"]["content"].as_object() else {
            continue;
        };
        for (media, body) in content {
            let schema = &body["schema"];
            assert!(
                schema["oneOf"].is_null(),
                "{method} {path} {media}: {schema}"
            );
            let resolved = match schema["$ref"].as_str() {
                Some(r) => &schemas[r.trim_start_matches("#/components/schemas/")],
                None => schema,
            };
            let closed = resolved["additionalProperties"] == false
                || resolved["allOf"][0]["additionalProperties"] == false;
            assert!(closed, "{method} {path} {media}: {resolved}");
        }
    }
}

#[tokio::test]
async fn the_spec_states_lengths_limits_and_enums() {
    let app = TestApp::spawn().await;
    let doc = openapi(&app).await;
    let schemas = &doc["components"]["schemas"];
    let title = &schemas["CreateTaskRequest"]["properties"]["title"];
    let pattern = title["pattern"].as_str().expect("title pattern");
    assert!(pattern.contains("{0,198}"), "{pattern}");
    let labels = &schemas["CreateTaskRequest"]["properties"]["labels"];
    assert_eq!(labels["maxItems"], 20, "{labels}");
    assert_eq!(labels["uniqueItems"], true, "{labels}");
    let password = &schemas["RegisterRequest"]["properties"]["password"];
    assert_eq!(password["minLength"], 8);
    assert_eq!(password["maxLength"], 128);

    let params = doc["paths"]["/tasks"]["get"]["parameters"]
        .as_array()
        .expect("GET /tasks parameters")
        .clone();
    let param = |name: &str| {
        params
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name}"))["schema"]
            .clone()
    };
    assert_eq!(param("limit")["minimum"], 1);
    assert_eq!(param("limit")["maximum"], 200);
    let sorts = param("sort")["enum"].as_array().expect("sort enum").len();
    assert_eq!(sorts, 8);

    let burndown = &doc["paths"]["/reports/projects/{id}/burndown"]["get"];
    let formats = burndown["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["name"] == "format")
        .expect("format")["schema"]["enum"]
        .clone();
    assert_eq!(formats, json!(["json", "csv", "svg"]));
    let ok = burndown["responses"]["200"]["content"]
        .as_object()
        .expect("200 content");
    for media in ["application/json", "text/csv", "image/svg+xml"] {
        assert!(ok.contains_key(media), "{media}");
    }
}

#[tokio::test]
async fn strings_holding_nul_are_refused() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let project = app.create_project(&owner, "Nul").await;
    let response = app
        .post("/tasks")
        .bearer_auth(&owner.access)
        .json(&json!({"project_id": project["id"], "title": "a\u{0}b", "labels": ["x\u{0}"]}))
        .send()
        .await
        .expect("send");
    let body = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(error_fields(&body), ["title", "labels"], "{body}");

    let response = app
        .get("/tasks?q=%00&label=a%00")
        .bearer_auth(&owner.access)
        .send()
        .await
        .expect("send");
    let body = assert_problem(response, 422, "validation_failed").await;
    let mut fields = error_fields(&body);
    fields.sort();
    assert_eq!(fields, ["label", "q"], "{body}");

    let response = app
        .post("/auth/login")
        .json(&json!({"email": "a\u{0}@example.com", "password": "whatever1"}))
        .send()
        .await
        .expect("send");
    let body = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(error_fields(&body), ["email"], "{body}");
}

#[tokio::test]
async fn an_empty_typed_query_parameter_is_invalid() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let project = app.create_project(&owner, "Empty").await;
    let id = project["id"].as_str().expect("id");
    for (query, field) in [
        ("/tasks?status=", "status"),
        ("/tasks?due_before=", "due_before"),
        ("/tasks?limit=", "limit"),
        ("/projects?status=", "status"),
        ("/notifications?unread=", "unread"),
        (
            &format!("/reports/projects/{id}/burndown?format=") as &str,
            "format",
        ),
    ] {
        let response = app
            .get(query)
            .bearer_auth(&owner.access)
            .send()
            .await
            .expect("send");
        let body = assert_problem(response, 422, "validation_failed").await;
        assert_eq!(error_fields(&body), [field], "{query}: {body}");
    }
    // Free text and the cursor: empty is the same as absent.
    for query in ["/tasks?q=&label=&cursor=", "/projects?q="] {
        let response = app
            .get(query)
            .bearer_auth(&owner.access)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), StatusCode::OK, "{query}");
    }
}

#[tokio::test]
async fn move_checks_its_query_parameters_next_to_a_body() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let project = app.create_project(&owner, "Move").await;
    let pid = project["id"].as_str().expect("id");
    let task = app.create_task(&owner, pid, json!({"title": "t"})).await;
    let tid = task["id"].as_str().expect("id");

    let response = app
        .patch(&format!("/tasks/{tid}/move?status=nope&after_id=x"))
        .bearer_auth(&owner.access)
        .json(&json!({"status": "done"}))
        .send()
        .await
        .expect("send");
    let body = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(error_fields(&body), ["status", "after_id"], "{body}");

    // Valid query parameters next to a body: the body wins.
    let response = app
        .patch(&format!("/tasks/{tid}/move?status=review"))
        .bearer_auth(&owner.access)
        .json(&json!({"status": "done"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    let moved: Value = response.json().await.expect("json");
    assert_eq!(moved["status"], "done");

    // A JSON `null` body is not an object.
    let response = app
        .patch(&format!("/tasks/{tid}/move?status=todo"))
        .bearer_auth(&owner.access)
        .header("content-type", "application/json")
        .body("null")
        .send()
        .await
        .expect("send");
    let body = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(error_fields(&body), [""], "{body}");
}
